"""Chinese text handling: normalisation, segmentation and term spotting.

Proposals arrive with full-width digits and letters, traditional characters,
mixed Chinese/English terms (SiC, IPv6, PEMFC), stray whitespace, and invisible
format characters from PDF or Word (zero-width spaces, soft hyphens, byte-order
marks). Everything downstream sees one normal form: no format characters, NFKC,
simplified characters, single spaces.
"""
from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable

import jieba
import opencc

jieba.setLogLevel(logging.WARNING)

_WS = re.compile(r"\s+")
_CONTROL = {c: " " for c in range(0x20) if chr(c) not in "\t\n\r"} | {0x7F: " "}
# Unicode format characters (category Cf): invisible, but they split words and terms apart.
# tests/test_text.py checks this class against unicodedata over every code point.
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
_t2s = opencc.OpenCC("t2s")
_t2s_lock = threading.Lock()


def _to_simplified(text: str) -> str:
    with _t2s_lock:  # the OpenCC handle is not documented as thread-safe
        return _t2s.convert(text)


def normalize(text: str) -> str:
    """Format characters removed, NFKC (full-width → half-width), traditional → simplified, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", _FORMAT.sub("", text)).translate(_CONTROL)
    return _WS.sub(" ", _to_simplified(text)).strip()


def normalize_with_offsets(text: str) -> tuple[str, list[tuple[int, int]]]:
    """:func:`normalize`, and for each character of the result the span of ``text`` it comes from.

    Works a base character with its combining marks at a time, so a highlight found in the
    normal form can be drawn on the text exactly as the user sent it. Equals :func:`normalize`
    except where a traditional→simplified phrase changes length (then characters convert alone).
    """
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = _FORMAT.sub("", text[i:j])
        if cluster:
            pieces.append(unicodedata.normalize("NFKC", cluster).translate(_CONTROL))
            spans.append((i, j))
        i = j
    joined = "".join(pieces)
    converted = _to_simplified(joined)
    if len(converted) != len(joined):
        pieces = [_to_simplified(p) for p in pieces]
        converted = "".join(pieces)
    origin = [span for piece, span in zip(pieces, spans) for _ in piece]
    out: list[str] = []
    out_spans: list[tuple[int, int]] = []
    for ch, span in zip(converted, origin):
        if ch.isspace():
            if not out or out[-1] == " ":
                continue
            ch = " "
        out.append(ch)
        out_spans.append(span)
    if out and out[-1] == " ":
        out.pop()
        out_spans.pop()
    return "".join(out), out_spans


_LATIN_RUN = re.compile(r"[a-z0-9]+")
# jieba's HMM (which groups unknown characters into words) is linear but slow per character:
# a sentence of thousands of unknown characters took seconds. Sentences are cut at these marks
# (where jieba cuts anyway, so ordinary text segments as before) and the HMM only reads
# sentences up to _HMM_MAX_CHARS long.
_SENTENCE = re.compile(r"[^。！？；，、,;!?\n]+[。！？；，、,;!?\n]*")
_HMM_MAX_CHARS = 300


def meaningful_length(text: str) -> int:
    """Characters that carry content: letters, digits and CJK ideographs."""
    return sum(1 for ch in text if ch.isalnum())


def _is_token(word: str) -> bool:
    return any(ch.isalnum() for ch in word) and not word.isdigit()


class Segmenter:
    """jieba with the corpus terms as a user dictionary and proposal boilerplate removed.

    Each instance owns its own ``jieba.Tokenizer`` so that the project's dictionary
    never leaks into other users of the global jieba state.
    """

    def __init__(self, terms: Iterable[str], stopwords: Iterable[str] = ()):
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        for term in terms:
            norm = normalize(term)
            if norm and " " not in norm:
                self._jieba.add_word(norm.lower(), freq=max(20000, 2000 * len(norm)))
        self.stopwords = frozenset(normalize(w).lower() for w in stopwords)

    def words(self, normalized_text: str) -> list[str]:
        """All lower-cased words of an already normalised text, boilerplate included."""
        out: list[str] = []
        for sentence in _SENTENCE.findall(normalized_text.lower()):
            out.extend(self._jieba.lcut(sentence, HMM=len(sentence) <= _HMM_MAX_CHARS))
        return [w for w in (w.strip() for w in out) if w and _is_token(w)]

    def tokens(self, normalized_text: str) -> list[str]:
        """Lower-cased content words of an already normalised text, stop words removed."""
        return [w for w in self.words(normalized_text) if w not in self.stopwords]


class TermSpotter:
    """Finds corpus terms in a text as evidence for a match, and where they stand in it.

    Chinese terms match as substrings; Latin terms (AI, 5G, SiC) only as whole words,
    case-insensitively, so that "AI" is not found inside "MAIL"; and single-character
    terms (铜, 镓) only as whole jieba tokens, so that 镓 is not found inside 氮化镓.
    Built once over all directions' terms: one pass per text.
    """

    def __init__(self, terms: Iterable[str]):
        self._plain: list[tuple[str, str]] = []
        self._words: dict[str, list[str]] = {}  # Latin terms that are one run of letters/digits
        self._regex: list[tuple[str, str, re.Pattern[str]]] = []  # other Latin terms (Li-ion, C++)
        self._single: dict[str, list[str]] = {}
        self._norm: dict[str, str] = {}
        for term in sorted({t for t in terms if t.strip()}, key=len, reverse=True):
            norm = normalize(term).lower()
            self._norm[term] = norm
            if norm.isascii():
                if _LATIN_RUN.fullmatch(norm):
                    self._words.setdefault(norm, []).append(term)
                else:
                    self._regex.append((term, norm, _whole_word(norm)))
            elif len(norm) == 1:
                self._single.setdefault(norm, []).append(term)
            else:
                self._plain.append((term, norm))

    def find(self, normalized_text: str, tokens: Iterable[str] = ()) -> set[str]:
        """The terms (in their corpus spelling) present in ``normalized_text`` (``tokens``: its segmentation)."""
        low = normalized_text.lower()
        found = {term for term, norm in self._plain if norm in low}
        # A whole-word match of a letters-and-digits term is exactly one of the text's maximal runs.
        for run in set(_LATIN_RUN.findall(low)) & self._words.keys():
            found.update(self._words[run])
        found.update(term for term, norm, rx in self._regex if norm in low and rx.search(low))
        for token in set(tokens) & self._single.keys():
            found.update(self._single[token])
        return found

    def spans(self, text: str, terms: Iterable[str]) -> dict[str, list[tuple[int, int]]]:
        """Where each of ``terms`` (found by :meth:`find`) stands in ``text`` as the user sent it.

        Offsets are Unicode code points, end exclusive. Longer terms win where two overlap, so
        氮化镓 is marked once, not also as 镓.
        """
        norm, origin = normalize_with_offsets(text)
        low = norm.lower()
        taken = [False] * len(low)
        out: dict[str, list[tuple[int, int]]] = {}
        for term in sorted(set(terms), key=lambda t: (-len(self._norm.get(t, t)), t)):
            needle = self._norm.get(term) or normalize(term).lower()
            rx = _whole_word(needle) if needle.isascii() else re.compile(re.escape(needle))
            for m in rx.finditer(low):
                a, b = m.span()
                if b > a and not any(taken[a:b]):
                    taken[a:b] = [True] * (b - a)
                    out.setdefault(term, []).append((origin[a][0], origin[b - 1][1]))
        return out


def _whole_word(norm: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(norm) + r"(?![a-z0-9])")
