"""Reading the pre-check's fields out of a proposal's own words, with the character spans as evidence.

The text is read in the matcher's normal form (NFKC, simplified characters: 萬 is 万, １２００ is
1200), one character at a time so that every span points into the text as the user wrote it. A
quantity belongs to a field when that field's keyword is the last one before it in its clause
(申请财政资金800万元; 企业自筹2400万元; 其中拨付合作企业400万元). Where the text is not clear — two
different fiscal requests, a range, a number without its unit — the field is reported as ambiguous
with its candidates, never guessed; structured fields given by the user win over all of this.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from matcher.text import normalize

from .facts import months_between
from .numbers import NUMBER, parse_number, to_wan


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of the text as the user sent it."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Found:
    value: object
    evidence: tuple[Span, ...]


@dataclass(frozen=True)
class Ambiguity:
    reason: str
    candidates: tuple[Found, ...] = ()


@dataclass
class Extraction:
    """What a text states: field -> value with its spans, and the fields it states unclearly."""

    values: dict[str, Found] = field(default_factory=dict)
    ambiguous: dict[str, Ambiguity] = field(default_factory=dict)


# -- the text in normal form, with a map back to the original ------------------------------------
@lru_cache(maxsize=16384)
def _char(ch: str) -> str:
    return " " if ch.isspace() else normalize(ch)


class _Text:
    """The normalised text and, for each of its characters, the index of the original one."""

    def __init__(self, original: str):
        self.original = original
        chars: list[str] = []
        where: list[int] = []
        for i, ch in enumerate(original):
            for c in _char(ch):
                chars.append(c)
                where.append(i)
        self.s = "".join(chars)
        self._where = where

    def span(self, start: int, end: int) -> Span:
        a = self._where[start]
        b = self._where[end - 1] + 1
        return Span(a, b, self.original[a:b])


# -- what the keywords mean ------------------------------------------------------------------------
MONEY_UNITS = ("万元", "亿元", "元")
COUNT_UNITS = ("件", "项", "个", "种", "套", "台", "篇", "条")
TIME_UNITS = ("个月", "年")

_QUANTITY = re.compile(
    rf"(?P<n1>{NUMBER})(?:\s*(?P<sep>[-—–~至到])\s*(?P<n2>{NUMBER}))?\s*"
    rf"(?P<unit>{'|'.join(MONEY_UNITS + TIME_UNITS + COUNT_UNITS)})?"
)
_BOUNDARY = "，,；;。！？!?\n、（）()【】[]"
_SENTENCE_END = "；;。！？!?\n"
_NOT_BARE = re.compile(r"\s*[%‰:/.×x*℃°A-Za-z]")

_MONEY_KEYS: list[tuple[str | None, str]] = [
    ("fiscal_to_enterprises_wan",
     r"企业(?:获得|分得|使用|承担)的?(?:财政)?(?:资金|经费|资助)?|(?:拨付|分配|下拨)给?(?:合作|参与)?企业的?(?:财政)?(?:资金|经费)?"),
    ("enterprise_matching_wan", r"(?:企业)?配套(?:经费|资金|投入|投资)?|(?:企业)?自筹(?:经费|资金)?|企业(?:投入|出资)"),
    ("fiscal_funding_wan",
     r"财政(?:专项)?(?:资金|经费|资助|支持|拨款|补助)?|专项资金|申请(?:资助|经费|资金|支持)|资助(?:经费|资金)|支持经费"),
    ("output_or_sales_wan", r"销售(?:收入|额)|产值"),
    (None, r"总投资|总经费|总预算|利润|税收|税金|贷款|营业收入|营收|融资|注册资本|资产"),
]
_COUNT_KEYS: list[tuple[str | None, str]] = [
    ("invention_patents", r"发明专利(?:申请)?"),
    ("new_outputs", r"新(?:技术|工艺|材料|产品|服务|装备|设备|器件|品种|方法)"),
    ("performance_parameters", r"(?:性能|技术|质量|关键|主要)(?:参数|指标)|参数指标|技术性能指标"),
    ("standards", r"(?:国家|行业|地方|团体|企业|国际)?标准(?:草案)?|规程"),
    (None, r"专利|实用新型|外观设计|著作权|软著|论文|人才|人员|博士|硕士|团队"),
]
_TIME_KEYS: list[tuple[str | None, str]] = [
    ("duration_months", r"周期|期限|执行期|实施期|建设期|研究期|研发期|工期|为期"),
]
_KEYS = {"money": [(f, re.compile(p)) for f, p in _MONEY_KEYS],
         "count": [(f, re.compile(p)) for f, p in _COUNT_KEYS],
         "time": [(f, re.compile(p)) for f, p in _TIME_KEYS]}
_COUNT_RX = {f: rx for f, rx in _KEYS["count"] if f}

SUM_FIELDS = frozenset({"new_outputs", "standards"})
"""Counted per kind and added up: 新产品2项、新工艺1项 is 3."""
MAX_FIELDS = frozenset({"output_or_sales_wan"})
"""Either kind satisfies the rule (产值或销售收入): the larger is taken."""
RANGE_IS_AMBIGUOUS = frozenset({"fiscal_funding_wan", "fiscal_to_enterprises_wan", "duration_months"})
"""A range (500—800万元) gives these no single value; the other fields take its lower bound."""

_YEAR = r"\d{4}|[〇零一二三四五六七八九]{4}"
_MON = r"\d{1,2}|十[一二]?|[一二三四五六七八九]"
_DAY = r"\d{1,2}|[一二三]?十[一二三四五六七八九]?|[一二三四五六七八九]"
_DATE = rf"(?:{_YEAR})\s*(?:年|[.\-/])\s*(?:{_MON})\s*月?(?:\s*(?:{_DAY})\s*日)?"
_DATE_PARTS = re.compile(rf"(?P<y>{_YEAR})\s*(?:年|[.\-/])\s*(?P<m>{_MON})")
_DATE_RANGE = re.compile(rf"(?P<a>{_DATE})\s*[至到—–\-~]{{1,2}}\s*(?P<b>{_DATE})")

_LEAD_BY = re.compile(r"由(?P<org>[^，,。；;:（(\s]{2,30}?)牵头")
_LEAD_AS = re.compile(r"(?:牵头|申报|承担)单位(?:为|是)?\s*:?\s*(?P<org>[^，,。；;（(\s]{2,40})")
_ENTERPRISE_LED = re.compile(r"(?<!非)企业牵头")
_ORG_KINDS = [("enterprise", re.compile(r"公司|集团|企业|厂|有限|股份")),
              ("university", re.compile(r"大学|学院|学校")),
              ("institute", re.compile(r"研究院|研究所|科学院|研究中心|院所|实验室"))]
_PRIORITIES = [("investment_attraction", re.compile(r"科技招商|招商引资|招商引进")),
               ("venture_fund", re.compile(r"科创基金")),
               ("university_transfer", re.compile(r"(?:高校院所|高校|院所)(?:科技)?成果(?:在合作区)?转化"))]
PRIORITY_NONE = "none"
_NEGATION = re.compile(r"不属于|不涉及|不是|并非|非")
_AGREEMENT = re.compile(r"(?:招商|投资)协议")
_ATTACHED = re.compile(r"附件|附后|附上|见附")
_NOT_ATTACHED = re.compile(r"(?:未|没有|尚未|暂无|无)(?:附|提供|签订|签署)")


@dataclass
class _Hit:
    field: str
    value: float
    spans: tuple[Span, ...]
    kind: str = ""
    subset: bool = False
    ranged: bool = False


def _clause_start(s: str, pos: int, boundaries: str = _BOUNDARY) -> int:
    i = pos
    while i > 0 and s[i - 1] not in boundaries:
        i -= 1
    return i


def _keyword(window: str, keys) -> tuple[str | None, str, int] | None:
    """The keyword that ends last in ``window`` (the longest of those ending together): (field, text, start)."""
    best = None
    for fld, rx in keys:
        for m in rx.finditer(window):
            rank = (m.end(), -m.start())
            if best is None or rank > best[0]:
                best = (rank, fld, m.group(0), m.start())
    return None if best is None else best[1:]


def _unit_class(unit: str | None, n1: str) -> str | None:
    if unit in MONEY_UNITS or (unit is None and n1[-1] in "万亿"):
        return "money"
    if unit in COUNT_UNITS:
        return "count"
    if unit in TIME_UNITS:
        return "time"
    return None


def _field_of(s: str, m: re.Match, window: str, cls: str) -> tuple[str, str] | None:
    """(field, keyword) of a quantity: the last keyword before it in its clause; for a count, also one
    right after it (不少于5项性能参数). None when the keyword says it is none of the fields (总投资, 利润)."""
    key = _keyword(window, _KEYS[cls])
    if (key is None or key[0] is None) and cls == "count":
        rest = s[m.end():m.end() + 12]
        rest = rest[:next((i for i, c in enumerate(rest) if c in _BOUNDARY), len(rest))]
        later = _keyword(rest, _KEYS["count"])
        if later and later[2] <= 3:
            key = later
    return (key[0], key[1]) if key and key[0] else None


def _lower_value(cls: str, unit: str | None, n1: str, n2: str | None) -> float | None:
    """The quantity's value (a range's lower end) in the field's unit: 万元, months, or a count."""
    # 500—800万元: the 万 written once covers both ends
    token = n1 + n2[-1] if cls == "money" and n2 and n1[-1] not in "万亿" and n2[-1] in "万亿" else n1
    value = parse_number(token)
    if value is None or (n2 and parse_number(n2) is None):
        return None
    if cls == "money":
        return to_wan(value, unit or token[-1])
    if cls == "time":
        return value * (12 if unit == "年" else 1)
    return value


def _each(s: str, m: re.Match, fld: str) -> int:
    """形成企业标准、行业标准各1项: a count after 各 stands once for each kind named before it."""
    if fld not in SUM_FIELDS or s[max(0, m.start() - 1):m.start()] != "各":
        return 1
    clause = s[_clause_start(s, m.start(), _SENTENCE_END + "，,"):m.start()]
    return max(1, len({k.group(0) for k in _COUNT_RX[fld].finditer(clause)}))


def _quantities(t: _Text, taken: list[tuple[int, int]], out: list[_Hit], ambiguous: dict[str, Ambiguity]) -> None:
    """Every number with a unit that a field's keyword claims; a claimed number without a unit is ambiguous."""
    s = t.s
    prev_end = 0
    for m in _QUANTITY.finditer(s):
        if any(a < m.end() and m.start() < b for a, b in taken):
            continue  # part of a date range
        unit, n1, n2 = m.group("unit"), m.group("n1"), m.group("n2")
        cls = _unit_class(unit, n2 or n1)
        window = s[max(_clause_start(s, m.start()), min(prev_end, m.start())):m.start()]
        prev_end = m.end()
        if cls is None:
            bare = unit is None and not _NOT_BARE.match(s, m.end()) and parse_number(n1) is not None
            key = _keyword(window, _KEYS["money"]) if bare else None
            if key and key[0]:
                ambiguous.setdefault(key[0], Ambiguity(f"“{t.span(m.start(), m.end()).text}”没有单位（元、万元或亿元）"))
            continue
        if cls == "time" and unit == "年" and (parse_number(n1) or 0) >= 1900:
            continue  # a year, not a duration
        claimed = _field_of(s, m, window, cls)
        value = _lower_value(cls, unit, n1, n2) if claimed else None
        if value is None:
            continue
        fld, kind = claimed
        subset = "其中" in window or "含" in window or (fld == "invention_patents" and "授权" in window)
        out.append(_Hit(fld, value * _each(s, m, fld), (t.span(m.start(), m.end()),), kind, subset, ranged=bool(n2)))


def _date_ranges(t: _Text, out: list[_Hit], taken: list[tuple[int, int]]) -> list[tuple[str, str, Span]]:
    """Month ranges (2025年1月至2027年12月, 2025.01-2027.12) as (start, end, span); each is also a duration hit,
    and its characters are ``taken`` so that its numbers are not read again as quantities."""
    found = []
    for m in _DATE_RANGE.finditer(t.s):
        months = []
        for part in (m.group("a"), m.group("b")):
            d = _DATE_PARTS.match(part)
            y, mo = parse_number(d.group("y")), parse_number(d.group("m"))
            months.append(None if y is None or mo is None or not 1 <= mo <= 12 else f"{int(y):04d}-{int(mo):02d}")
        taken.append((m.start(), m.end()))
        if None in months or months_between(*months) < 1:
            continue
        span = t.span(m.start(), m.end())
        found.append((months[0], months[1], span))
        out.append(_Hit("duration_months", months_between(*months), (span,), "dates"))
    return found


INTEGER_FIELDS = frozenset({"duration_months"} | {f for f, _ in _COUNT_KEYS if f})


def _tidy(value):
    """800.0 as 800, and no float noise (0.5亿元 is 5000, not 5000.000000001)."""
    if isinstance(value, float):
        value = round(value, 4)
        return int(value) if value.is_integer() else value
    return value


def _decide(hits: list[_Hit], ex: Extraction) -> None:
    """One value per field from its hits: a subset (其中…, 授权…) only when nothing else is stated; the kinds
    of a count added up; 产值 or 销售收入, the larger; different values, or a range where it matters, ambiguous."""
    by_field: dict[str, list[_Hit]] = {}
    for h in hits:
        by_field.setdefault(h.field, []).append(h)
    for fld, group in by_field.items():
        if fld in ex.ambiguous:
            continue
        whole = [h for h in group if not h.subset] or group
        if any(h.ranged for h in whole) and fld in RANGE_IS_AMBIGUOUS:
            ex.ambiguous[fld] = Ambiguity("文中给出的是一个范围", tuple(Found(h.value, h.spans) for h in whole))
            continue
        kinds: dict[str, list[_Hit]] = {}
        for h in whole:
            kinds.setdefault(h.kind if fld in SUM_FIELDS | MAX_FIELDS else "", []).append(h)
        clash = [k for k, hs in kinds.items() if len({h.value for h in hs}) > 1]
        if clash:
            ex.ambiguous[fld] = Ambiguity("文中有多个不同的数值", tuple(Found(h.value, h.spans) for h in whole))
            continue
        firsts = [hs[0] for hs in kinds.values()]
        if fld in SUM_FIELDS:
            value, spans = sum(h.value for h in firsts), tuple(sp for h in whole for sp in h.spans)
        else:
            chosen = max(firsts, key=lambda h: h.value)  # one hit, or the larger of 产值 and 销售收入
            value, spans = chosen.value, tuple(sp for h in whole if h.value == chosen.value for sp in h.spans)
        if fld in INTEGER_FIELDS:
            value = int(round(value))
        ex.values[fld] = Found(_tidy(value), spans)


def _org_kind(org: str) -> str | None:
    best = None
    for kind, rx in _ORG_KINDS:
        for m in rx.finditer(org):
            if best is None or m.end() > best[0]:
                best = (m.end(), kind)
    return best[1] if best else None


def _lead(t: _Text, ex: Extraction) -> None:
    found: list[tuple[str, Span]] = []
    for rx in (_LEAD_BY, _LEAD_AS):
        for m in rx.finditer(t.s):
            kind = _org_kind(m.group("org"))
            if kind:
                found.append((kind, t.span(m.start("org"), m.end("org"))))
    for m in _ENTERPRISE_LED.finditer(t.s):
        found.append(("enterprise", t.span(m.start(), m.end())))
    _single("lead_type", found, ex, "文中的牵头单位类型不一致")


def _single(fld: str, found: list[tuple[object, Span]], ex: Extraction, clash: str) -> None:
    values = {v for v, _ in found}
    if len(values) == 1:
        ex.values[fld] = Found(found[0][0], tuple(sp for _, sp in found))
    elif values:
        ex.ambiguous[fld] = Ambiguity(clash, tuple(Found(v, (sp,)) for v, sp in found))


def _sentences(s: str) -> Iterable[tuple[int, int]]:
    start = 0
    for i, ch in enumerate(s):
        if ch in _SENTENCE_END:
            yield start, i
            start = i + 1
    yield start, len(s)


def _priority(t: _Text, ex: Extraction) -> None:
    found: list[tuple[object, Span]] = []
    attached: list[tuple[object, Span]] = []
    for a, b in _sentences(t.s):
        sentence = t.s[a:b]
        for value, rx in _PRIORITIES:
            for m in rx.finditer(sentence):
                before = sentence[_clause_start(sentence, m.start()):m.start()]
                negated = _NEGATION.search(before)
                found.append((PRIORITY_NONE if negated else value, t.span(a + m.start(), a + m.end())))
        for m in _AGREEMENT.finditer(sentence):
            if _ATTACHED.search(sentence):
                attached.append((not _NOT_ATTACHED.search(sentence), t.span(a + m.start(), a + m.end())))
    positive = [f for f in found if f[0] != PRIORITY_NONE]
    _single("priority", positive or found, ex, "文中提到多个优先支持类别")
    _single("agreement_attached", attached, ex, "文中关于协议附件的说法不一致")


def extract(text: str) -> Extraction:
    """The fields ``text`` states, each with its spans; the ones it states unclearly in ``ambiguous``."""
    t = _Text(text)
    ex = Extraction()
    hits: list[_Hit] = []
    taken: list[tuple[int, int]] = []
    ranges = _date_ranges(t, hits, taken)
    _quantities(t, taken, hits, ex.ambiguous)
    _decide(hits, ex)
    starts = {(a, b) for a, b, _ in ranges}
    if len(starts) == 1:
        a, b = next(iter(starts))
        spans = tuple(sp for *_, sp in ranges)
        ex.values["start"] = Found(a, spans)
        ex.values["end"] = Found(b, spans)
    _lead(t, ex)
    _priority(t, ex)
    return ex
