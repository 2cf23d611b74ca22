"""Client-level distributed DP settings of a federation (null: off).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("federations") as batch:
        batch.add_column(sa.Column("client_dp", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("federations") as batch:
        batch.drop_column("client_dp")
