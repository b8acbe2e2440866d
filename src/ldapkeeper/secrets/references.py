"""Secret references, Infisical's syntax: ``${KEY}`` (same environment and folder) and
``${env.KEY}`` / ``${env.folder.sub.KEY}`` (another environment and path of the project).

Expansion is recursive, refuses cycles, and is bounded in depth and in result size. A
reference to a secret that does not exist stays as written (as in Infisical). Values of
secrets written by a rotation are substituted verbatim, never expanded themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ldapkeeper.secrets.errors import (
    ExpandedValueTooLarge,
    SecretReferenceCycle,
    SecretReferenceTooDeep,
)

REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
MAX_DEPTH = 10
MAX_EXPANDED_LENGTH = 1_048_576


@dataclass(frozen=True)
class SecretAddress:
    """Where a secret lives inside one project: environment slug, folder path, key."""

    environment: str
    path: str
    key: str

    def __str__(self) -> str:
        return f"{self.environment}:{self.path}:{self.key}"


@dataclass(frozen=True)
class ReferencedSecret:
    """What a reference points at. ``expandable`` is false for rotation-written values."""

    value: str
    expandable: bool


Lookup = Callable[[SecretAddress], ReferencedSecret | None]


def has_references(value: str) -> bool:
    """Whether ``value`` contains anything that looks like a reference."""
    return REFERENCE.search(value) is not None


def parse_reference(body: str, *, environment: str, path: str) -> SecretAddress | None:
    """The address named by the text between ``${`` and ``}``, relative to where it appears.

    None when it has an empty segment (``${a..b}``): such text is left as written.
    """
    parts = body.split(".")
    if any(not part for part in parts):
        return None
    if len(parts) == 1:
        return SecretAddress(environment, path, parts[0])
    env, *folders, key = parts
    return SecretAddress(env, "/" + "/".join(folders), key)


class ReferenceExpander:
    """Expands the references of values, with one cache of expanded secrets per instance.

    Raises SecretReferenceCycle, SecretReferenceTooDeep or ExpandedValueTooLarge (all 400).
    """

    def __init__(
        self,
        lookup: Lookup,
        *,
        max_depth: int = MAX_DEPTH,
        max_length: int = MAX_EXPANDED_LENGTH,
    ) -> None:
        self._lookup = lookup
        self._max_depth = max_depth
        self._max_length = max_length
        # address → (expanded value, how many reference levels it took); successes only,
        # which is safe: a node on a cycle never succeeds, from whatever chain it is reached.
        self._expanded: dict[SecretAddress, tuple[str, int]] = {}

    def expand(self, value: str, *, origin: SecretAddress) -> str:
        """``value`` (the value of the secret at ``origin``) with its references replaced."""
        expanded, _levels = self._expand(value, origin, (origin,))
        return expanded

    def _expand(
        self, value: str, where: SecretAddress, chain: tuple[SecretAddress, ...]
    ) -> tuple[str, int]:
        levels = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal levels
            address = parse_reference(
                match.group(1), environment=where.environment, path=where.path
            )
            if address is None:
                return match.group(0)
            if address in chain:
                start = chain.index(address)
                raise SecretReferenceCycle([str(a) for a in (*chain[start:], address)])
            target = self._lookup(address)
            if target is None:
                return match.group(0)
            text, sub_levels = target.value, 0
            if target.expandable and has_references(target.value):
                if len(chain) >= self._max_depth:
                    raise SecretReferenceTooDeep(self._max_depth)
                cached = self._expanded.get(address)
                if cached is None:
                    cached = self._expand(target.value, address, (*chain, address))
                    self._expanded[address] = cached
                text, sub_levels = cached
            if len(chain) + sub_levels > self._max_depth:
                raise SecretReferenceTooDeep(self._max_depth)
            levels = max(levels, sub_levels + 1)
            return text

        result = REFERENCE.sub(replace, value)
        if len(result) > self._max_length:
            raise ExpandedValueTooLarge(self._max_length)
        return result, levels
