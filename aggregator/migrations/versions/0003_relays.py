"""What the server relays to clients after each secagg stage.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "round_relays",
        sa.Column("round_id", sa.String(36), sa.ForeignKey("rounds.id"), primary_key=True),
        sa.Column("stage", sa.String(32), primary_key=True),
        sa.Column("recipient", sa.Integer, primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("round_relays")
