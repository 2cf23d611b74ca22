"""The append-only privacy ledger: one row per client, round and mechanism.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("federation_id", sa.String(36), sa.ForeignKey("federations.id"),
                  nullable=False, index=True),
        sa.Column("round_id", sa.String(36), sa.ForeignKey("rounds.id"), nullable=False),
        sa.Column("round_number", sa.Integer, nullable=False),
        sa.Column("client_id", sa.Integer, nullable=False),
        sa.Column("mechanism", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("noise_multiplier", sa.Float, nullable=False),
        sa.Column("sampling", sa.String(16), nullable=False),
        sa.Column("sample_rate", sa.Float, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
        sa.Column("clip_norm", sa.Float, nullable=False),
        sa.Column("delta", sa.Float, nullable=False),
        sa.Column("accountant", sa.String(8), nullable=False),
        sa.Column("epsilon_reported", sa.Float, nullable=True),
        sa.Column("epsilon_recomputed", sa.Float, nullable=False),
        sa.Column("mismatch", sa.Boolean, nullable=False),
        sa.Column("event", sa.LargeBinary, nullable=True),
        sa.Column("signature", sa.LargeBinary(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("round_id", "client_id", "mechanism"),
    )


def downgrade() -> None:
    op.drop_table("privacy_ledger")
