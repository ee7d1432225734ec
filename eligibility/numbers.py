"""Numbers as proposals write them: Arabic with thousands separators, Chinese numerals (八百五十,
二〇二五, 捌佰), and the two mixed (5百万, 1.2亿), converted by cn2an rather than by hand."""
from __future__ import annotations

import cn2an

CN_NUMERALS = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"
MULTIPLIERS = "十百千万亿"
ARABIC = r"\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
NUMBER = rf"(?:{ARABIC})[{MULTIPLIERS}]*|[{CN_NUMERALS}]+"
"""A number token in normalised (NFKC, simplified) text."""

YUAN_PER = {"元": 1, "万元": 10_000, "亿元": 100_000_000, "万": 1, "亿": 1}
"""元 per unit written after the number (万 and 亿 alone have already been read into the number)."""


def parse_number(token: str) -> float | None:
    """The value of one number token, or None when cn2an cannot read it (a stray 万 or 十 in a word)."""
    token = token.replace(",", "")
    try:
        value = cn2an.cn2an(token, "smart")
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return float(value)


def to_wan(value: float, unit: str) -> float:
    """An amount read with ``unit`` (元, 万元, 亿元, or 万/亿 folded into the number) in 万元."""
    return value * YUAN_PER[unit] / 10_000
