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
    OverrideOut,
    OverrideRequest,
    OverrideResponse,
    PanelLoadOut,
    RunOptionsIn,
    RunOut,
    RunRequest,
)

__all__ = [
    "ERROR_RESPONSES", "AmbiguityOut", "AssignmentOut", "BatchItem", "BatchItemResult", "BatchRequest", "BatchResponse",
    "CheckRequest", "CheckResponse", "EvidenceOut", "LimitOut", "RuleCheckOut", "ValueOut",
    "ClusterOut", "ClusterScoreOut", "ClustersResponse", "DirectionMatchOut", "DirectionOut", "DirectionsResponse",
    "ErrorDetail", "ErrorResponse", "HealthResponse", "LimitsResponse", "MatchRequest", "MatchResponse", "OverrideOut",
    "OverrideRequest", "OverrideResponse", "PanelLoadOut", "ReadyResponse", "RunOptionsIn", "RunOut",
    "RunRequest", "Strict", "valid_unicode",
]
