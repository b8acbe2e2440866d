"""Errors of identities, logins and tokens."""

from ldapkeeper.errors import BadRequest, NotFound, TooManyRequests, Unauthorized


class InvalidCredentials(Unauthorized):
    """Wrong email/password or client id/secret (one message for every cause)."""

    def __init__(self) -> None:
        super().__init__("Invalid credentials")


class InvalidToken(Unauthorized):
    def __init__(self, reason: str = "Invalid or expired token") -> None:
        super().__init__(reason)


class LoginThrottled(TooManyRequests):
    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed login attempts; try again later", retry_after=retry_after)


class IdentityNotFound(NotFound):
    pass


class DuplicateIdentity(BadRequest):
    pass
