"""Threshold CKKS custody: custodians, invites by role, a federation's custody settings and
a round's custody state (active set, collective key).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("federations") as batch:
        batch.add_column(sa.Column("custody", sa.String(16), nullable=False,
                                   server_default="local"))
        batch.add_column(sa.Column("custodians", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("custodian_threshold", sa.Integer, nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("invites") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False,
                                   server_default="client"))
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("custody", sa.JSON, nullable=True))
    op.create_table(
        "custodians",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("federation_id", sa.String(36), sa.ForeignKey("federations.id"),
                  nullable=False, index=True),
        sa.Column("custodian_index", sa.Integer, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True, index=True),
        sa.Column("identity_key", sa.LargeBinary(32), nullable=False),
        sa.Column("exchange_key", sa.LargeBinary(32), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("federation_id", "custodian_index"),
        sa.UniqueConstraint("federation_id", "identity_key"),
    )


def downgrade() -> None:
    op.drop_table("custodians")
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("custody")
    with op.batch_alter_table("invites") as batch:
        batch.drop_column("role")
    with op.batch_alter_table("federations") as batch:
        batch.drop_column("custodian_threshold")
        batch.drop_column("custodians")
        batch.drop_column("custody")
