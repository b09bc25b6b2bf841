"""Roman numerals both ways, with strict validation of the input."""

from typing import Dict, List, Tuple

_VALUES: List[Tuple[int, str]] = [
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"),
    (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
    (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
]
_SYMBOLS: Dict[str, int] = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


class RomanNumeralError(ValueError):
    """The text is not a valid roman numeral."""


def to_roman(number: int) -> str:
    """Convert 1..3999 to a roman numeral."""
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError("expected an int")
    if not 0 < number < 4000:
        raise ValueError("number must be between 1 and 3999")
    parts = []
    for value, symbol in _VALUES:
        count, number = divmod(number, value)
        parts.append(symbol * count)
    return "".join(parts)


def from_roman(text: str) -> int:
    """Parse a roman numeral; lower case is accepted, malformed numerals are not."""
    text = text.strip().upper()
    if not text:
        raise RomanNumeralError("empty numeral")
    total = 0
    previous = 0
    repeat = 0
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if ch not in _SYMBOLS:
            raise RomanNumeralError(f"invalid symbol {ch!r}")
        value = _SYMBOLS[ch]
        if value < previous:
            if previous > value * 10 or ch in "VLD":
                raise RomanNumeralError(f"bad subtraction {ch}{text[i + 1]}")
            total -= value
            repeat = 0
        else:
            if value == previous:
                repeat += 1
                if repeat >= 3 or ch in "VLD":
                    raise RomanNumeralError(f"too many {ch}")
            else:
                repeat = 0
            total += value
        previous = value
    if to_roman(total) != text:
        raise RomanNumeralError(f"non-canonical numeral {text}")
    return total


def roman_add(a: str, b: str) -> str:
    """Add two numerals and answer in roman."""
    return to_roman(from_roman(a) + from_roman(b))


def is_roman(text: str) -> bool:
    try:
        from_roman(text)
    except RomanNumeralError:
        return False
    return True
