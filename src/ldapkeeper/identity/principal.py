"""Who is calling: a user or a machine identity, as proven by a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ldapkeeper.identity.permissions import OrgRole


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "identity"]
    id: str
    name: str
    org_id: str
    org_role: OrgRole

    @property
    def is_org_admin(self) -> bool:
        return self.org_role is OrgRole.ADMIN
