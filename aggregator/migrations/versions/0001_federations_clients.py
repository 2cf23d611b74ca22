"""Federations, invites and enrolled clients.

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
        "federations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("dimension", sa.Integer, nullable=False),
        sa.Column("update_spec", sa.JSON, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("min_clients", sa.Integer, nullable=False),
        sa.Column("max_clients", sa.Integer, nullable=False),
        sa.Column("dropout_rate", sa.Float, nullable=False),
        sa.Column("corruption_rate", sa.Float, nullable=False),
        sa.Column("clip_norm", sa.Float, nullable=False),
        sa.Column("stage_timeout_seconds", sa.Float, nullable=False),
        sa.Column("epsilon_budget", sa.Float, nullable=False),
        sa.Column("delta", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "invites",
        sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("federation_id", sa.String(36), sa.ForeignKey("federations.id"),
                  nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_invites_federation_id", "invites", ["federation_id"])
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("federation_id", sa.String(36), sa.ForeignKey("federations.id"),
                  nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("identity_key", sa.LargeBinary(32), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("federation_id", "identity_key"),
    )
    op.create_index("ix_clients_federation_id", "clients", ["federation_id"])
    op.create_index("ix_clients_token_hash", "clients", ["token_hash"], unique=True)


def downgrade() -> None:
    op.drop_table("clients")
    op.drop_table("invites")
    op.drop_table("federations")
