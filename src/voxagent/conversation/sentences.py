"""Cut streaming text into sentences, so speech can start before the whole reply exists.

Pure and incremental: feed fragments as an LLM produces them, take whole sentences out,
flush the rest at the end. It avoids the classic false cuts of phone dialogue: abbreviations
("Dr.", "a.m."), decimals and times ("10.30"), and ellipses.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    {
        "dr",
        "mr",
        "mrs",
        "ms",
        "sr",
        "sra",
        "srta",
        "st",
        "av",
        "ave",
        "no",
        "vs",
        "etc",
        "a.m",
        "p.m",
        "e.g",
        "i.e",
        "approx",
        "min",
        "max",
        "tel",
        "dept",
        "jr",
        "lic",
        "ing",
    }
)
_END = re.compile(r"[.!?…:;]+[\"')\]]*(?=\s)|[\n]+")
"""Sentence ends, plus ':' and ';' before a space: "Let me confirm: …" starts speaking sooner.
A colon inside a time ("10:30") is not followed by a space, so it never cuts."""
_MIN_CHARS = 2


class SentenceSplitter:
    """Accumulates text and hands back complete sentences."""

    def __init__(self, min_chars: int = _MIN_CHARS) -> None:
        self._buffer = ""
        self._min_chars = min_chars

    def feed(self, fragment: str) -> list[str]:
        """Add text; return the sentences it completed (possibly none)."""
        self._buffer += fragment
        sentences: list[str] = []
        start = 0
        for match in _END.finditer(self._buffer):
            end = match.end()
            candidate = self._buffer[start:end].strip()
            if match.group().startswith(".") and _ends_with_abbreviation(candidate):
                continue
            if len(candidate) >= self._min_chars:
                sentences.append(candidate)
                start = end
        self._buffer = self._buffer[start:]
        return sentences

    def flush(self) -> list[str]:
        """The unfinished tail, as a last sentence."""
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []


def _ends_with_abbreviation(text: str) -> bool:
    words = text.rstrip(".").rsplit(None, 1)
    if not words:
        return False
    last = words[-1].lower().lstrip("¿¡(\"'")
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def split_sentences(text: str) -> list[str]:
    """Whole text → sentences (convenience for non-streaming callers)."""
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()
