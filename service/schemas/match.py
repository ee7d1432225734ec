"""Bodies of the public matching API: ``/v1/match``, ``/v1/match/batch``, the guide, health and limits.

Length limits that depend on the settings (text length, batch size) are checked by the
routes against :class:`~service.settings.Settings` and written into the OpenAPI document
by ``service.app``; the limits here are the fixed ones.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StrictStr

from corpus import N_DIRECTIONS

from .common import ErrorDetail, Strict, valid_unicode

DEFAULT_TOP_K = 5
MAX_ID_CHARS = 200

EXAMPLE_TEXT = (
    "高压实磷酸铁锂正极材料连续化制备关键技术研究：开发碳包覆纳米磷酸铁锂正极材料连续化制备工艺，"
    "压实密度≥2.6 g/cm³，建成年产2万吨LFP生产线。"
)


ProposalText = Annotated[
    StrictStr,
    AfterValidator(valid_unicode),
    Field(
        description="Project title and/or abstract, Chinese or English; at least a few characters of content "
        "and at most the documented maximum (20,000 characters by default).",
        examples=[EXAMPLE_TEXT],
    ),
]
def integral(value: object) -> object:
    """JSON Schema counts 1.0 as an integer, so it is accepted as 1; "5", true and 2.5 are not."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


TopK = Annotated[
    StrictInt,
    Field(ge=1, le=N_DIRECTIONS, description=f"How many ranked directions to return (1–{N_DIRECTIONS})."),
    BeforeValidator(integral),
]


# -- requests ---------------------------------------------------------------------------------
class MatchRequest(Strict):
    text: ProposalText
    top_k: TopK = DEFAULT_TOP_K


class BatchItem(Strict):
    id: Annotated[
        StrictStr,
        AfterValidator(valid_unicode),
        Field(min_length=1, max_length=MAX_ID_CHARS, description="The caller's id for the item, echoed back."),
    ]
    text: Annotated[
        ProposalText,
        Field(
            description="Title and/or abstract. An empty, too short or too long text (over 20,000 characters "
            "by default) gets an error entry for this item; the other items are still matched."
        ),
    ]


class BatchRequest(Strict):
    items: list[BatchItem] = Field(
        min_length=1, description="Items to match, at most the documented maximum (200 by default)."
    )
    top_k: TopK = DEFAULT_TOP_K


# -- responses --------------------------------------------------------------------------------
class DirectionMatchOut(Strict):
    id: int
    title: str
    score: float = Field(description="Calibrated probability that this direction is a right answer (0–1).")
    cluster: str | None = Field(description="The direction's main industry cluster (None outside the seven).")
    clusters: list[str]
    matched_terms: list[str] = Field(description="Corpus terms of this direction found in the text.")
    matched_spans: list[list[int]] = Field(
        description="Where those terms stand in the text as sent: [start, end] in Unicode code points, end exclusive."
    )
    dense: float = Field(description="Cosine similarity in the embedding space.")
    lexical: float = Field(description="BM25 score of the direction for the segmented text.")


class ClusterScoreOut(Strict):
    name: str
    score: float


class MatchResponse(Strict):
    in_scope: bool = Field(description="Whether the text belongs to the call at all.")
    in_scope_score: float = Field(description="Probability that the text belongs to the call (0 when a rule set it aside).")
    reason: Literal["fits", "no_direction_fits", "too_vague", "unsupported_language"] = Field(
        description="Why: fits; no_direction_fits; too_vague (nothing beyond boilerplate to judge); "
        "unsupported_language (mostly words the model cannot read: Chinese and English are supported, no direction is guessed)."
    )
    directions: list[DirectionMatchOut] = Field(description="Ranked directions, best first (empty for an unsupported language).")
    clusters: list[ClusterScoreOut] = Field(description="The seven clusters ranked by their best direction.")
    also_fits: list[int] = Field(description="Directions nearly as good as the best one.")
    message: str = Field(description="A one-line verdict in Chinese for applicants.")
    version: str = Field(description="Package, corpus, model and fusion weights that produced the result.")


class BatchItemResult(Strict):
    id: str
    result: MatchResponse | None = Field(description="The match, or null when this item has an error.")
    error: ErrorDetail | None = Field(description="Why this item was not matched, or null.")


class BatchResponse(Strict):
    items: list[BatchItemResult] = Field(description="One entry per request item, in the same order.")
    matched: int
    failed: int


class DirectionOut(Strict):
    id: int
    title: str = Field(description="Short label.")
    text: str = Field(description="The official wording of the direction in the guide.")
    en: str = Field(description="The official wording rendered in English.")
    clusters: list[str]
    cluster_note: str | None
    terms: list[str]


class DirectionsResponse(Strict):
    directions: list[DirectionOut]


class ClusterOut(Strict):
    name: str
    en: str
    description: str
    directions: list[int] = Field(description="Ids of the directions in this cluster.")


class ClustersResponse(Strict):
    clusters: list[ClusterOut]


class HealthResponse(Strict):
    status: str


class ReadyResponse(Strict):
    status: str
    version: str


class LimitsResponse(Strict):
    max_text_chars: int = Field(description="Longest title + abstract accepted (characters, also after normalisation).")
    min_text_chars: int = Field(description="Fewest characters of content a text needs to be judged.")
    max_batch_items: int = Field(description="Most items in one POST /v1/match/batch.")
    max_body_bytes: int = Field(description="Largest request body (bytes).")
    max_routing_proposals: int = Field(description="Most proposals in one routing run (staff).")
