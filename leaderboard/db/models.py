"""The tables. A submission row keeps the full, validated results.json (as JSON text, never pickle)
plus the few summary columns the ranking page reads, so the table page never parses 1,000 files.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATUSES = ("pending", "published", "rejected")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Token(Base):
    """An API token. Only the SHA-256 of the secret is stored; the secret is shown once."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Submission(Base):
    """One results.json, from pending to published or rejected (with the reason kept)."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    benchmark: Mapped[str] = mapped_column(String(100), index=True)
    benchmark_version: Mapped[str] = mapped_column(String(50))
    display_name: Mapped[str] = mapped_column(String(300))
    model_spec: Mapped[str] = mapped_column(Text)
    revision: Mapped[str] = mapped_column(Text)
    model_type: Mapped[str] = mapped_column(String(20))
    params_b: Mapped[float | None] = mapped_column(Float, nullable=True)
    settings_hash: Mapped[str] = mapped_column(String(64))
    #: sha256 of (model, revision, task, task version, settings); cleared on rejection so the
    #: same run can be submitted again after a fix. The UNIQUE index makes dedup race-free.
    dedup_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    standard: Mapped[bool] = mapped_column(Boolean)
    overall_mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    overall_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    overall_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_samples: Mapped[int] = mapped_column(Integer)
    summary_json: Mapped[str] = mapped_column(Text)
    results_json: Mapped[str] = mapped_column(Text)


class Thumbnail(Base):
    """A small PNG re-encoded by the server from a submitted image (never served as uploaded)."""

    __tablename__ = "thumbnails"
    __table_args__ = (UniqueConstraint("submission_id", "sample_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    sample_id: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(50))
    png: Mapped[bytes] = mapped_column(LargeBinary)
