"""Errors of the challenge server, each with the HTTP status the API answers with.

They are ``UnmaskError`` subclasses, so the CLI prints them as one line as well.
"""

from __future__ import annotations

from unmask.errors import UnmaskError


class ArenaError(UnmaskError):
    """Base class; ``status_code`` is the HTTP answer."""

    status_code = 400


class NotFoundError(ArenaError):
    """Missing, or not visible to the caller (another team's submission looks missing)."""

    status_code = 404


class AuthError(ArenaError):
    """No token, or one that is unknown or revoked."""

    status_code = 401


class ForbiddenError(ArenaError):
    status_code = 403


class ConflictError(ArenaError):
    """The request does not fit the challenge's state (closed phase, labels already used)."""

    status_code = 409


class TooLargeError(ArenaError):
    status_code = 413


class CapReachedError(ArenaError):
    """The team used its daily or total submissions."""

    status_code = 429


class RateLimitedError(ArenaError):
    """Too many failed token attempts from one client address."""

    status_code = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class ClientError(ArenaError):
    """The server refused a client request (``unmask arena submit``); says what it answered."""
