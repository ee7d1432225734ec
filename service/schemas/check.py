"""Bodies of ``POST /v1/check``: a proposal's fields in, one verdict per rule of the guide out.

The fields' types are checked here; their bounds and vocabularies (amounts, counts, months, lead
types, priority categories) come from the settings and the rules file and are checked by
:mod:`eligibility.facts`, so the API and ``guide-match check`` refuse the same things with the same
words. :func:`document_limits` writes them into the OpenAPI document.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from .common import Strict, valid_unicode
from .match import integral

Amount = Annotated[StrictFloat | None, Field(None, description="万元, 0 or more (absurd amounts are refused as typing errors).")]
Count = Annotated[StrictInt | None, BeforeValidator(integral), Field(None, description="A count, 0 or more.")]
Month = Annotated[StrictStr | None, Field(None, description="A month, YYYY-MM.", examples=["2025-01"])]


class CheckRequest(Strict):
    """Every field is optional; given fields win over what is read from ``text``."""

    text: Annotated[StrictStr | None, AfterValidator(lambda v: v if v is None else valid_unicode(v)), Field(
        None, description="A 申报书 abstract, its 考核指标 and 经费 paragraphs: amounts, dates and counts are read "
        "from it (at most the documented maximum length, 20,000 characters by default).")]
    lead_type: StrictStr | None = Field(None, description="enterprise, university, institute or other.")
    fiscal_funding_wan: Amount = None
    enterprise_matching_wan: Amount = None
    fiscal_to_enterprises_wan: Amount = Field(
        None, description="For a project not led by an enterprise: the fiscal funds the enterprises receive (万元).")
    start: Month = None
    end: Month = None
    duration_months: Count = None
    new_outputs: Count = None
    performance_parameters: Count = None
    invention_patents: Count = None
    standards: Count = None
    output_or_sales_wan: Amount = None
    priority: StrictStr | None = Field(
        None, description="none, investment_attraction (科技招商), venture_fund (科创基金投资) or university_transfer.")
    agreement_attached: StrictBool | None = None


def document_limits(props: dict[str, Any], settings: Any, rulebook: Any) -> None:
    """Write the bounds and vocabularies the pre-check enforces into ``CheckRequest``'s OpenAPI properties."""
    from eligibility.facts import AMOUNTS, COUNTS, MONTHS

    limits = settings.eligibility

    def nullable(name: str, **schema: Any) -> None:
        for branch in props.get(name, {}).get("anyOf", []):
            if branch.get("type") != "null":
                branch.update(schema)

    nullable("text", maxLength=settings.max_text_chars)
    for name in AMOUNTS:
        nullable(name, minimum=0, maximum=limits.max_amount_wan)
    for name in COUNTS:
        nullable(name, minimum=0, maximum=limits.max_count)
    nullable("duration_months", minimum=1, maximum=limits.max_duration_months)
    for name in MONTHS:
        nullable(name, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    nullable("lead_type", enum=list(rulebook.lead_types))
    nullable("priority", enum=list(rulebook.priorities))


class EvidenceOut(Strict):
    field: str
    source: Literal["input", "text"] = Field(description="The user's field, or characters start:end of the text.")
    text: str | None
    start: int | None
    end: int | None


class LimitOut(Strict):
    min: float | None
    max: float | None
    expect: bool | None = Field(description="For a yes/no rule: the answer it requires.")
    text: str = Field(description="The limit in words, e.g. 300–1,000万元.")


class RuleCheckOut(Strict):
    rule: str = Field(description="The rule's key in corpus/rules.yaml.")
    title: str
    status: Literal["pass", "fail", "warn", "unknown"] = Field(
        description="pass; fail; warn (close to a limit, or past one the guide words as 一般); unknown (not stated).")
    value: bool | int | float | None = Field(description="The value held against the limit, in the rule's unit.")
    limit: LimitOut
    unit: str | None
    evidence: list[EvidenceOut]
    source: str = Field(description="The guide's own sentence, verbatim.")
    message: str = Field(description="The verdict in words (Chinese).")
    fields: list[str] = Field(description="The request fields the rule reads.")


class AmbiguityOut(Strict):
    field: str
    reason: str


class ValueOut(Strict):
    value: Any
    source: Literal["input", "text"]
    evidence: list[EvidenceOut]


class CheckResponse(Strict):
    eligible: bool | None = Field(description="false: a rule fails; null: none fails but some are not stated; true.")
    checks: list[RuleCheckOut] = Field(description="One entry per rule that applies, in the guide's order.")
    missing: list[str] = Field(description="Fields to give (not stated, or stated ambiguously) to decide the rest.")
    ambiguous: list[AmbiguityOut] = Field(description="Fields the text states in more than one way, and why.")
    values: dict[str, ValueOut] = Field(description="The values the rules read, each from the request or the text.")
