"""Small text helpers: wrapping, slugs, word counts and truncation."""

import re
import unicodedata
from collections import Counter
from typing import Dict, List

_WORD = re.compile(r"[a-z0-9']+")


def wrap(text: str, width: int = 20) -> List[str]:
    """Greedily wrap ``text`` into lines of at most ``width`` characters.

    Words longer than ``width`` are split hard.
    """
    if width <= 0:
        raise ValueError("width must be positive")
    lines: List[str] = []
    current = ""
    for word in text.split():
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def slugify(title: str, max_length: int = 50) -> str:
    """Turn a title into a URL slug: ``"Hello, World!"`` -> ``"hello-world"``."""
    normalized = unicodedata.normalize("NFKD", title)
    ascii_only = normalized.encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", ascii_only).strip("-").lower()
    if not slug:
        return "untitled"
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    return slug


def word_frequencies(text: str, stop_words: frozenset = frozenset()) -> Dict[str, int]:
    """Count the words of ``text`` (case-insensitive), skipping ``stop_words``."""
    counts: Counter = Counter()
    for word in _WORD.findall(text.lower()):
        word = word.strip("'")
        if word and word not in stop_words:
            counts[word] += 1
    return dict(counts)


def top_words(text: str, n: int = 3) -> List[str]:
    """The ``n`` most frequent words, ties broken alphabetically."""
    if n < 0:
        raise ValueError("n must not be negative")
    freq = word_frequencies(text)
    ranked = sorted(freq.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:n]]


def truncate(text: str, limit: int, ellipsis: str = "...") -> str:
    """Cut ``text`` to ``limit`` characters, ending on a word boundary when possible."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return ellipsis[:limit]
    cut = text[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def is_palindrome(phrase: str) -> bool:
    """True when the letters and digits of ``phrase`` read the same both ways."""
    cleaned = [c.lower() for c in phrase if c.isalnum()]
    return len(cleaned) > 0 and cleaned == cleaned[::-1]
