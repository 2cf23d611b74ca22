"""Rounds, their messages, and sealed CKKS custody keys.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_keys",
        sa.Column("federation_id", sa.String(36), sa.ForeignKey("federations.id"),
                  primary_key=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("public_context_blob", sa.String(64), nullable=False),
    )
    op.create_table(
        "rounds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("federation_id", sa.String(36), sa.ForeignKey("federations.id"),
                  nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage_deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("participants", sa.JSON, nullable=False),
        sa.Column("round_seed", sa.LargeBinary(32), nullable=False),
        sa.Column("protocol", sa.JSON, nullable=False),
        sa.Column("abort_reason", sa.String(500), nullable=True),
        sa.Column("contributors", sa.JSON, nullable=True),
        sa.Column("result_blob", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("federation_id", "number"),
    )
    op.create_index("ix_rounds_federation_id", "rounds", ["federation_id"])
    op.create_table(
        "round_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("round_id", sa.String(36), sa.ForeignKey("rounds.id"), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("sender", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("blob", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("round_id", "stage", "sender"),
    )
    op.create_index("ix_round_messages_round_id", "round_messages", ["round_id"])


def downgrade() -> None:
    op.drop_table("round_messages")
    op.drop_table("rounds")
    op.drop_table("custody_keys")
