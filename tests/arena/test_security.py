"""Tokens, signatures and CSRF tokens."""

from __future__ import annotations

from unmask.arena.core.security import (
    Signer,
    csrf_ok,
    csrf_token_for,
    hash_token,
    looks_like_token,
    new_token,
)


def test_tokens_are_random_and_hashed() -> None:
    a, b = new_token(), new_token()
    assert a != b and looks_like_token(a) and len(a) == 47
    assert hash_token(a) != hash_token(b) and len(hash_token(a)) == 64
    assert not looks_like_token("Bearer x") and not looks_like_token("umk_" + "é" * 30)


def test_signatures_hold_expire_and_resist_tampering() -> None:
    signer = Signer("a" * 20 + "b" * 20)
    signed = signer.sign("42", now=1000)
    assert signer.unsign(signed, max_age_s=60, now=1030) == "42"
    assert signer.unsign(signed, max_age_s=60, now=1100) is None  # expired
    value, stamp, mac = signed.split(".")
    assert signer.unsign(f"43.{stamp}.{mac}", max_age_s=60, now=1030) is None
    assert signer.unsign(f"{value}.{int(stamp) + 50}.{mac}", max_age_s=60, now=1030) is None
    assert Signer("c" * 40).unsign(signed, max_age_s=60, now=1030) is None  # another secret
    assert Signer("a" * 20 + "b" * 20, salt="csrf").unsign(signed, max_age_s=60, now=1030) is None
    assert signer.unsign("garbage", max_age_s=60) is None


def test_csrf_tokens_bind_to_the_nonce_and_the_secret() -> None:
    token = csrf_token_for("s" * 40, "nonce-1")
    assert csrf_ok("s" * 40, "nonce-1", token)
    assert not csrf_ok("s" * 40, "nonce-2", token)
    assert not csrf_ok("t" * 40, "nonce-1", token)
    assert not csrf_ok("s" * 40, None, token) and not csrf_ok("s" * 40, "nonce-1", None)
