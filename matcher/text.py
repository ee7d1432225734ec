"""Chinese text handling: normalisation, segmentation and term spotting.

Proposals arrive with full-width digits and letters, traditional characters,
mixed Chinese/English terms (SiC, IPv6, PEMFC) and stray whitespace. Everything
downstream sees one normal form: NFKC, simplified characters, single spaces.
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
_CONTROL = {c: " " for c in range(0x20) if chr(c) not in "\t\n\r"}
_t2s = opencc.OpenCC("t2s")
_t2s_lock = threading.Lock()


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), traditional → simplified, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).translate(_CONTROL)
    with _t2s_lock:  # the OpenCC handle is not documented as thread-safe
        text = _t2s.convert(text)
    return _WS.sub(" ", text).strip()


_LATIN_RUN = re.compile(r"[a-z0-9]+")


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

    def tokens(self, normalized_text: str) -> list[str]:
        """Lower-cased content words of an already normalised text, stop words removed."""
        words = self._jieba.lcut(normalized_text.lower(), HMM=True)
        return [w for w in (w.strip() for w in words) if w and _is_token(w) and w not in self.stopwords]


class TermSpotter:
    """Finds corpus terms in a text as evidence for a match.

    Chinese terms match as substrings; Latin terms (AI, 5G, SiC) only as whole
    words, case-insensitively, so that "AI" is not found inside "MAIL"; and
    single-character terms (铜, 镓) only as whole jieba tokens, so that 镓 is not
    found inside 氮化镓. Built once over all directions' terms: one pass per text.
    """

    def __init__(self, terms: Iterable[str]):
        self._plain: list[tuple[str, str]] = []
        self._words: dict[str, list[str]] = {}  # Latin terms that are one run of letters/digits
        self._regex: list[tuple[str, str, re.Pattern[str]]] = []  # other Latin terms (Li-ion, C++)
        self._single: dict[str, list[str]] = {}
        for term in sorted({t for t in terms if t.strip()}, key=len, reverse=True):
            norm = normalize(term).lower()
            if norm.isascii():
                if _LATIN_RUN.fullmatch(norm):
                    self._words.setdefault(norm, []).append(term)
                else:
                    self._regex.append((term, norm, re.compile(r"(?<![a-z0-9])" + re.escape(norm) + r"(?![a-z0-9])")))
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
