"""The role → action table of SPEC section 2, row by row."""

import pytest

from ldapkeeper.identity.permissions import PERMISSIONS, ProjectRole, Subject, is_allowed

ROLES = (ProjectRole.ADMIN, ProjectRole.MEMBER, ProjectRole.VIEWER, ProjectRole.NO_ACCESS)
CONNECTIONS, ROTATIONS, SECRETS = Subject.APP_CONNECTIONS, Subject.SECRET_ROTATIONS, Subject.SECRETS

# (row of the SPEC table, its actions, allowed for admin / member / viewer / no-access)
SPEC_TABLE: list[tuple[str, list[tuple[Subject, str]], tuple[bool, bool, bool, bool]]] = [
    (
        "app connections: read",
        [(CONNECTIONS, "read-app-connections")],
        (True, True, True, False),
    ),
    (
        "app connections: create / edit / delete",
        [
            (CONNECTIONS, "create-app-connections"),
            (CONNECTIONS, "edit-app-connections"),
            (CONNECTIONS, "delete-app-connections"),
        ],
        (True, False, False, False),
    ),
    (
        "app connections: connect",
        [(CONNECTIONS, "connect-app-connections")],
        (True, True, False, False),
    ),
    ("rotations: read", [(ROTATIONS, "read")], (True, True, True, False)),
    (
        "rotations: create / edit / delete",
        [(ROTATIONS, "create"), (ROTATIONS, "edit"), (ROTATIONS, "delete")],
        (True, True, False, False),
    ),
    ("rotations: rotate-secrets", [(ROTATIONS, "rotate-secrets")], (True, True, False, False)),
    (
        "rotations: read-generated-credentials",
        [(ROTATIONS, "read-generated-credentials")],
        (True, False, False, False),
    ),
    ("secrets: describe", [(SECRETS, "describe")], (True, True, True, False)),
    (
        "secrets: read-value / create / edit / delete",
        [(SECRETS, "read-value"), (SECRETS, "create"), (SECRETS, "edit"), (SECRETS, "delete")],
        (True, True, False, False),
    ),
    (
        "memberships, identities, audit log",
        [
            (Subject.PROJECT_ADMIN, "manage-memberships"),
            (Subject.PROJECT_ADMIN, "manage-identities"),
            (Subject.PROJECT_ADMIN, "read-audit-logs"),
        ],
        (True, False, False, False),
    ),
]


@pytest.mark.parametrize(
    ("actions", "allowed"),
    [(actions, allowed) for _row, actions, allowed in SPEC_TABLE],
    ids=[row for row, _actions, _allowed in SPEC_TABLE],
)
@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_role_may_do_exactly_what_the_spec_table_says(
    role: ProjectRole,
    actions: list[tuple[Subject, str]],
    allowed: tuple[bool, bool, bool, bool],
) -> None:
    expected = allowed[ROLES.index(role)]
    assert [is_allowed(role, subject, action) for subject, action in actions] == [expected] * len(
        actions
    )


def test_table_has_no_action_beyond_the_spec() -> None:
    in_spec = {pair for _row, actions, _allowed in SPEC_TABLE for pair in actions}
    in_code = {(subject, action) for subject, acts in PERMISSIONS.items() for action in acts}
    assert in_code == in_spec


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_unknown_action_is_never_allowed(role: ProjectRole) -> None:
    assert not is_allowed(role, Subject.SECRETS, "read-everything")


def test_no_access_role_may_do_nothing() -> None:
    assert not any(
        is_allowed(ProjectRole.NO_ACCESS, subject, action)
        for subject, actions in PERMISSIONS.items()
        for action in actions
    )
