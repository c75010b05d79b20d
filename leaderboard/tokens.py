"""API tokens: random secrets, stored as SHA-256 hashes, shown once.

Why a fast hash and not bcrypt: the secrets are 256 random bits, so a brute force over the hash is
hopeless anyway, and a lookup by hash keeps authentication one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leaderboard.db.models import Token
from unified_bench.errors import SpecError

PREFIX = "ubl_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(session: Session, name: str) -> str:
    """Store a new token named ``name``; return the secret (the only time it exists in clear)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise SpecError(f"Token name {name!r} is empty or longer than 200 characters.", "Pick a short name.")
    secret = PREFIX + secrets.token_urlsafe(32)
    session.add(Token(name=name, token_hash=hash_token(secret)))
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise SpecError(f"A token named {name!r} already exists.", "Choose another name.") from exc
    return secret


def authenticate(session: Session, secret: str) -> Token | None:
    """The live token whose secret is ``secret``, else None (constant work: one hash, one lookup)."""
    if not secret or len(secret) > 200:
        return None
    token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
    if token is None or token.revoked:
        return None
    return token
