"""The language and script of each text, and whether the sentence model can read a pair.

Language by py3langid (its naive-Bayes model ships inside the PyPI package: nothing is
downloaded; 97 languages); script from the Unicode names of the text's letters. A pair is
*covered* when the configured sentence model reads both texts; pairs it does not cover
are flagged, never dropped (the workshop's tags must stay exact). all-MiniLM-L6-v2 reads
English; a multilingual model is the setting `agreement.embedding_languages: ["*"]`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

# Codes beside ISO 639: no letters at all (emoji, digits, punctuation) / not decidable.
NO_LANGUAGE = "zxx"
UNDETERMINED = "und"
NO_SCRIPT = "none"
# Fewer letters than this are too few to tell a language by ("3 cups", "whisk", "N/A"
# read as Spanish, Dutch, Serbian…); such a text is judged by its script alone.
MIN_LETTERS = 12
# The language of a text is told by its beginning (the detector's cost grows with length).
MAX_CHARS = 200
ALPHABETS = frozenset({"Latin", "Cyrillic", "Greek"})  # scripts many languages share
# A best guess below this is no guess (uniform over the model's ~70 labels is 0.014).
UNDECIDED_BELOW = 0.05
_LETTER = re.compile(r"[^\W\d_]")
# Unicode name prefixes whose script goes by another name.
_SCRIPT_NAMES = {"CJK": "Han", "HIRAGANA": "Hiragana", "KATAKANA": "Katakana"}


def detector_version() -> str:
    from importlib.metadata import version

    return f"py3langid-{version('py3langid')}"


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=65536)
def _char_script(ch: str) -> str:
    head = unicodedata.name(ch, "").split(" ", 1)[0]
    return _SCRIPT_NAMES.get(head, head.title()) if head else ""


def script_of(text: str) -> str:
    """The script most of the text's letters are written in (Latin, Han, Cyrillic, …);
    `none` when it has no letters."""
    if text.isascii():
        return "Latin" if any(ch.isalpha() for ch in text) else NO_SCRIPT
    counts = Counter(_char_script(ch) for ch in text if ch.isalpha())
    counts.pop("", None)
    return counts.most_common(1)[0][0] if counts else NO_SCRIPT


@dataclass(frozen=True)
class TextLanguage:
    """What a text is written in: ISO 639 code (or zxx / und), its probability, script."""

    language: str | None  # None: an empty text
    probability: float | None
    script: str | None


@dataclass(frozen=True)
class Coverage:
    """The languages and scripts the sentence model reads (`*`: any)."""

    languages: frozenset[str]
    scripts: frozenset[str]
    min_probability: float = 0.05

    @classmethod
    def of(cls, languages: Iterable[str], scripts: Iterable[str], min_probability: float):
        return cls(frozenset(languages), frozenset(scripts), min_probability)

    def reads(self, lang: TextLanguage) -> bool:
        if lang.language is None:  # empty: the agreement rule for empty texts applies
            return True
        if lang.language == NO_LANGUAGE:  # emoji and symbols: no model reads them as text
            return False
        if "*" in self.languages or lang.language in self.languages:
            return True
        return lang.language == UNDETERMINED and (
            "*" in self.scripts or lang.script in self.scripts
        )


class LanguageDetector:
    """Language of each distinct text, detected once (cached by text)."""

    def __init__(self, coverage: Coverage):
        self.coverage = coverage
        self.version = detector_version()
        self.cache: dict[str, TextLanguage] = {}
        self.detected = 0

    def one(self, text: str | None) -> TextLanguage:
        stripped = (text or "").strip()
        if not stripped:
            return TextLanguage(None, None, None)
        if (hit := self.cache.get(stripped)) is not None:
            return hit
        self.detected += 1
        script = script_of(stripped)
        if script == NO_SCRIPT:
            found = TextLanguage(NO_LANGUAGE, 1.0, script)
        elif (
            script in ALPHABETS and len(_LETTER.findall(stripped, 0, 4 * MIN_LETTERS)) < MIN_LETTERS
        ):
            found = TextLanguage(UNDETERMINED, None, script)  # too short to tell: by script
        else:
            found = self._language(stripped, script)
        self.cache[stripped] = found
        return found

    def _language(self, text: str, script: str) -> TextLanguage:
        ranked = _identifier().rank(text[:MAX_CHARS])
        best, p_best = ranked[0]
        if p_best < UNDECIDED_BELOW:  # next to uniform (no features, e.g. "N/A"): undecided
            return TextLanguage(UNDETERMINED, round(float(p_best), 4), script)
        # Short English phrases often rank a neighbour first ("a person pours the glaze":
        # fr); a language the model reads, above min_probability, is taken instead. On
        # generated workshop-style English this moves misreadings from ~3 % to < 1 %;
        # real foreign text gives the model's languages ~0.001.
        covered = self.coverage.languages
        if best not in covered and "*" not in covered:
            for lang, p in ranked:
                if p < self.coverage.min_probability:
                    break
                if lang in covered:
                    return TextLanguage(lang, round(float(p), 4), script)
        return TextLanguage(best, round(float(p_best), 4), script)

    def pairs(
        self, a: Sequence[str | None], b: Sequence[str | None]
    ) -> list[tuple[TextLanguage, TextLanguage, bool]]:
        """(language of a, language of b, whether the model reads both) per pair."""
        out = []
        for x, y in zip(a, b, strict=True):
            la, lb = self.one(x), self.one(y)
            out.append((la, lb, self.coverage.reads(la) and self.coverage.reads(lb)))
        return out
