"""Tokens, signed cookies and CSRF tokens (standard library only).

API tokens are 256 random bits; the database keeps only their SHA-256, so a leaked database
gives no usable token (a slow hash adds nothing against a 256-bit secret).

    >>> token = new_token()
    >>> token.startswith("umk_") and hash_token(token) != token
    True
    >>> signer = Signer("s" * 40)
    >>> signer.unsign(signer.sign("42"), max_age_s=60)
    '42'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

TOKEN_PREFIX = "umk_"


def new_token() -> str:
    """A fresh API token: ``umk_`` and 43 URL-safe characters."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    """Cheap shape check before touching the database."""
    return value.startswith(TOKEN_PREFIX) and 20 <= len(value) <= 100 and value.isascii()


class Signer:
    """HMAC-SHA256 signatures with a timestamp, for cookies and CSRF tokens.

    >>> s = Signer("k" * 40, salt="csrf")
    >>> s.unsign(s.sign("abc") + "x", max_age_s=10) is None
    True
    """

    def __init__(self, secret: str, *, salt: str = "session") -> None:
        self._key = hashlib.sha256(f"{salt}\0{secret}".encode()).digest()

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, value: str, *, now: float | None = None) -> str:
        payload = f"{value}.{int(time.time() if now is None else now)}"
        return f"{payload}.{self._mac(payload)}"

    def unsign(self, signed: str, *, max_age_s: int, now: float | None = None) -> str | None:
        """The value if the signature holds and is younger than ``max_age_s``; else None."""
        payload, _, mac = signed.rpartition(".")
        if not payload or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        value, _, stamp = payload.rpartition(".")
        if not stamp.isdigit():
            return None
        age = (time.time() if now is None else now) - int(stamp)
        return value if -60 <= age <= max_age_s else None


def csrf_token_for(secret: str, nonce: str) -> str:
    """The form token that goes with the ``nonce`` kept in the browser's CSRF cookie.

    A cross-site page can make the browser send the cookie, but can neither read it nor
    compute this token without the server's secret.
    """
    key = hashlib.sha256(f"csrf\0{secret}".encode()).digest()
    return hmac.new(key, nonce.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, nonce: str | None, token: str | None) -> bool:
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token_for(secret, nonce), token)
