"""Password generation from a rotation's ``passwordRequirements``."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

DEFAULT_SYMBOLS = "-_.~!*"
# A value containing these could look like a secret reference (${...}): never allowed.
FORBIDDEN_SYMBOLS = frozenset("${}")


@dataclass(frozen=True)
class PasswordRules:
    length: int = 48
    digits: int = 1
    lowercase: int = 1
    uppercase: int = 1
    symbols: int = 0
    allowed_symbols: str = DEFAULT_SYMBOLS


def generate_password(rules: PasswordRules) -> str:
    """A random password of ``rules.length`` with at least the required count of each class.

    Raises ValueError when the rules cannot be met (validated earlier by the schema).
    """
    if rules.digits + rules.lowercase + rules.uppercase + rules.symbols > rules.length:
        raise ValueError("required characters exceed the length")
    symbols = "".join(sorted(set(rules.allowed_symbols) - FORBIDDEN_SYMBOLS))
    if rules.symbols and not symbols:
        raise ValueError("symbols are required but none are allowed")
    classes = [
        (string.digits, rules.digits),
        (string.ascii_lowercase, rules.lowercase),
        (string.ascii_uppercase, rules.uppercase),
        (symbols, rules.symbols),
    ]
    chars = [secrets.choice(alphabet) for alphabet, count in classes for _ in range(count)]
    # The rest is drawn from every class the rules use, so no class is starved.
    pool = "".join(alphabet for alphabet, count in classes if count > 0)
    chars += [secrets.choice(pool) for _ in range(rules.length - len(chars))]
    # Fisher-Yates with a CSPRNG: required characters land anywhere.
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)
