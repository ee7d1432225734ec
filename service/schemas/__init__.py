"""Request and response bodies of the API (pydantic, strict: unknown fields are an error).

Limits that depend on the settings (text length, batch size, routing table size) are checked by
the routes and written into the OpenAPI document by ``service.app``; the limits here are fixed.
"""
from .check import AmbiguityOut, CheckRequest, CheckResponse, EvidenceOut, LimitOut, RuleCheckOut, ValueOut
from .common import ERROR_RESPONSES, ErrorDetail, ErrorResponse, Strict, valid_unicode
from .match import (
    BatchItem,
    BatchItemResult,
    BatchRequest,
    BatchResponse,
    ClusterOut,
    ClusterScoreOut,
    ClustersResponse,
    DirectionMatchOut,
    DirectionOut,
    DirectionsResponse,
    HealthResponse,
    LimitsResponse,
    MatchRequest,
    MatchResponse,
    ReadyResponse,
)
from .routing import (
    AssignmentOut,
    DirectionRequest,
    DirectionResponse,
    FeedbackOut,
    JobOut,
    OverrideOut,
    OverrideRequest,
    OverrideResponse,
    PanelLoadOut,
    PanelOut,
    PanelsCheckRequest,
    PanelsOut,
    RunOptionsIn,
    RunOut,
    RunRequest,
    RunsResponse,
)

__all__ = [
    "ERROR_RESPONSES", "AmbiguityOut", "AssignmentOut", "BatchItem", "BatchItemResult", "BatchRequest",
    "BatchResponse", "CheckRequest", "CheckResponse", "ClusterOut", "ClusterScoreOut", "ClustersResponse",
    "DirectionMatchOut", "DirectionOut", "DirectionRequest", "DirectionResponse", "DirectionsResponse",
    "ErrorDetail", "ErrorResponse", "EvidenceOut", "FeedbackOut", "HealthResponse", "JobOut", "LimitOut",
    "LimitsResponse", "MatchRequest", "MatchResponse", "OverrideOut", "OverrideRequest", "OverrideResponse",
    "PanelLoadOut", "PanelOut", "PanelsCheckRequest", "PanelsOut", "ReadyResponse", "RuleCheckOut", "RunOptionsIn",
    "RunOut", "RunRequest", "RunsResponse", "Strict", "ValueOut", "valid_unicode",
]
