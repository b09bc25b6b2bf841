# Small helpers for cleaning and measuring text.

import functools
import re
import unicodedata
_WORD = re.compile(r"\w+")


def slugify(text: str, separator: str = "-") -> str:
    """Lower-cases `text` and joins its words with `separator`."""
    normalized = unicodedata.normalize("NFKD", text)
    return separator.join(word.lower() for word in _WORD.findall(normalized))


def word_count(text):
    return len(_WORD.findall(text))


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def truncate(text: str, limit: int, suffix: str = "…") -> str:
    '''Cuts `text` to at most `limit` characters.'''
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(suffix))] + suffix


class TextStats:
    def __init__(self, text):
        self.text = text

    @functools.cache
    def words(self):
        return _WORD.findall(self.text)

    @staticmethod
    def is_blank(text: str) -> bool:
        return not text.strip()

    class Options:
        ignore_case = True

        @classmethod
        def strict(cls):
            options = cls()
            options.ignore_case = False
            return options


try:
    from rapidfuzz import fuzz

    def similarity(a: str, b: str) -> float:
        return fuzz.ratio(a, b) / 100
except ImportError:
    def similarity(a: str, b: str) -> float:
        return 1.0 if a == b else 0.0
