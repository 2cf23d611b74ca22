"""The global adapter each federation's rounds update, and its optimizer state.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "global_models",
        sa.Column("federation_id", sa.String(36), sa.ForeignKey("federations.id"),
                  primary_key=True),
        sa.Column("rule", sa.JSON, nullable=False),
        sa.Column("rounds_applied", sa.Integer, nullable=False),
        sa.Column("last_round_number", sa.Integer, nullable=False),
        sa.Column("params_blob", sa.String(64), nullable=True),
        sa.Column("m_blob", sa.String(64), nullable=True),
        sa.Column("v_blob", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("global_models")
