"""Initial tables: tokens, submissions, thumbnails.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_id", sa.Integer, sa.ForeignKey("tokens.id"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
        sa.Column("benchmark", sa.String(100), nullable=False, index=True),
        sa.Column("benchmark_version", sa.String(50), nullable=False),
        sa.Column("display_name", sa.String(300), nullable=False),
        sa.Column("model_spec", sa.Text, nullable=False),
        sa.Column("revision", sa.Text, nullable=False),
        sa.Column("model_type", sa.String(20), nullable=False),
        sa.Column("params_b", sa.Float, nullable=True),
        sa.Column("settings_hash", sa.String(64), nullable=False),
        sa.Column("dedup_key", sa.String(64), nullable=True, unique=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("standard", sa.Boolean, nullable=False),
        sa.Column("overall_mean", sa.Float, nullable=True),
        sa.Column("overall_low", sa.Float, nullable=True),
        sa.Column("overall_high", sa.Float, nullable=True),
        sa.Column("n_samples", sa.Integer, nullable=False),
        sa.Column("summary_json", sa.Text, nullable=False),
        sa.Column("results_json", sa.Text, nullable=False),
    )
    op.create_table(
        "thumbnails",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False, index=True),
        sa.Column("sample_id", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("submission_id", "sample_id", "kind"),
    )


def downgrade() -> None:
    op.drop_table("thumbnails")
    op.drop_table("submissions")
    op.drop_table("tokens")
