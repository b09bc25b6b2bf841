"""Form validation: e-mail addresses, passwords with rules, usernames and phone numbers."""

import re
from dataclasses import dataclass, field
from typing import List

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
COMMON_PASSWORDS = {"password", "123456", "qwerty", "letmein", "admin"}


class ValidationError(ValueError):
    """Raised by the ``require_*`` helpers with the list of problems found."""

    def __init__(self, problems: List[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def is_valid_email(address: str) -> bool:
    """A pragmatic check: one @, a sane local part and a dotted domain."""
    if address.count("@") != 1 or len(address) > 254:
        return False
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    if not all(_LABEL.match(label) for label in labels):
        return False
    return labels[-1].isalpha() and len(labels[-1]) >= 2


@dataclass
class PasswordPolicy:
    min_length: int = 8
    require_digit: bool = True
    require_upper: bool = True
    require_symbol: bool = False
    forbidden: List[str] = field(default_factory=list)

    def problems(self, password: str) -> List[str]:
        """Every rule the password breaks, in a stable order."""
        found = []
        if len(password) < self.min_length:
            found.append(f"shorter than {self.min_length} characters")
        if self.require_digit and not any(c.isdigit() for c in password):
            found.append("no digit")
        if self.require_upper and not any(c.isupper() for c in password):
            found.append("no upper-case letter")
        if self.require_symbol and password.isalnum():
            found.append("no symbol")
        if password.lower() in COMMON_PASSWORDS:
            found.append("too common")
        for word in self.forbidden:
            if word and word.lower() in password.lower():
                found.append(f"contains {word!r}")
        return found


def password_strength(password: str) -> str:
    """'weak', 'medium' or 'strong' by length and character classes."""
    classes = sum([
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ])
    if len(password) < 8 or classes <= 1:
        return "weak"
    if len(password) >= 12 and classes >= 3:
        return "strong"
    return "medium"


def require_password(password: str, username: str = "") -> str:
    policy = PasswordPolicy(forbidden=[username])
    problems = policy.problems(password)
    if problems:
        raise ValidationError(problems)
    return password


def normalize_phone(number: str, country_code: str = "1") -> str:
    """Normalize a phone number to E.164 (``+15551234567``)."""
    digits = re.sub(r"[\s().-]", "", number)
    if digits.startswith("+"):
        body = digits[1:]
    elif digits.startswith("00"):
        body = digits[2:]
    else:
        body = country_code + digits.lstrip("0")
    if not body.isdigit() or not 8 <= len(body) <= 15:
        raise ValueError(f"not a phone number: {number!r}")
    return "+" + body
