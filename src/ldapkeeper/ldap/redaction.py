"""Scrub passwords out of text before it leaves the adapter (error messages, logs)."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

from pydantic import SecretStr

MASK = "*" * 20

Secret = str | SecretStr | None


def _plain(secret: Secret) -> str:
    if isinstance(secret, SecretStr):
        return secret.get_secret_value()
    return secret or ""


def _spellings(secret: str) -> set[str]:
    """The ways a password can show up in text: as typed, escaped, encoded."""
    # surrogatepass: a JSON string may carry a lone surrogate, which must not break this.
    quoted_utf16 = f'"{secret}"'.encode("utf-16-le", "surrogatepass")  # AD's unicodePwd
    utf8 = secret.encode("utf-8", "surrogatepass")
    forms = {secret, repr(secret)[1:-1], quote(utf8, safe="")}
    for raw in (utf8, secret.encode("utf-16-le", "surrogatepass"), quoted_utf16):
        forms.add(repr(raw)[2:-1])  # as printed inside a bytes repr
        forms.add(base64.b64encode(raw).decode("ascii"))  # as in LDIF or a wire dump
        forms.add(raw.decode("latin-1"))  # bytes decoded as if they were text
    forms.discard("")
    return forms


def redact(text: str, *secrets: Secret) -> str:
    """Return `text` with every occurrence of each secret replaced by `MASK`.

    Also replaces the escaped, URL-quoted, UTF-16LE (AD `unicodePwd`) and base64 spellings
    of each secret. Empty or None secrets are ignored. One pass, longest match first, so a
    secret that is part of another (or of the mask) cannot leave a fragment behind.
    """
    forms: set[str] = set()
    for secret in secrets:
        plain = _plain(secret)
        if plain:
            forms |= _spellings(plain)
    if not forms or not text:
        return text
    pattern = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    return re.sub(pattern, MASK, text)
