"""Password generation from a rotation's ``passwordRequirements``."""

from __future__ import annotations

import os
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
    draw = RandomDraw(4 * rules.length)
    chars = [draw.choice(alphabet) for alphabet, count in classes for _ in range(count)]
    # The rest is drawn from every class the rules use, so no class is starved.
    pool = "".join(alphabet for alphabet, count in classes if count > 0)
    chars += [draw.choice(pool) for _ in range(rules.length - len(chars))]
    # Fisher-Yates with a CSPRNG: required characters land anywhere.
    for i in range(len(chars) - 1, 0, -1):
        j = draw.below(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


class RandomDraw:
    """Uniform draws from blocks of the OS's CSPRNG (``os.urandom``), read ``size`` bytes
    at a time.

    ``secrets.choice`` reads the OS once per character: a 48-character password was about
    a hundred system calls, each of which lets go of the GIL, which costs a thread switch
    whenever other threads wait for it. Here a password is usually one read.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = max(size, 16)
        self._bytes = b""
        self._at = 0

    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)``: the fewest whole bytes that cover ``n - 1``,
        masked to its bit length, drawn again while out of range (at most half the time)."""
        if n < 1:
            raise ValueError("n must be positive")
        bits = (n - 1).bit_length()
        width = (bits + 7) // 8
        mask = (1 << bits) - 1
        while True:
            if self._at + width > len(self._bytes):
                self._bytes = os.urandom(self._size)
                self._at = 0
            value = int.from_bytes(self._bytes[self._at : self._at + width], "big") & mask
            self._at += width
            if value < n:
                return value

    def choice(self, options: str) -> str:
        return options[self.below(len(options))]
