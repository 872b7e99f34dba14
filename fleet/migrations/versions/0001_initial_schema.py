"""Initial schema: nodes, edges, technicians, work orders, tokens, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Times are UTC without a zone (see fleet.db.models.UTCDateTime). The nodes table keeps
few indexes, two of them partial (see fleet.db.models.Node).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
    )
    op.create_index(op.f("ix_audit_actor_id"), "audit", ["actor", "id"], unique=False)
    op.create_index(op.f("ix_audit_target_id_id"), "audit", ["target_id", "id"], unique=False)
    op.create_table(
        "edges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("endpoints", sa.JSON(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("status", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edges")),
    )
    op.create_index(op.f("ix_edges_district"), "edges", ["district"], unique=False)
    op.create_table(
        "technicians",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_technicians")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=True),
        sa.Column("district", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["technician_id"], ["technicians.id"], name=op.f("fk_tokens_technician_id_technicians")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tokens_token_hash")),
    )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("kit", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("provisioned", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["technicians.id"],
            name=op.f("fk_work_orders_technician_id_technicians"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
    )
    op.create_index(
        op.f("ix_work_orders_technician_id_id"),
        "work_orders",
        ["technician_id", "id"],
        unique=False,
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kit", sa.String(length=16), nullable=False),
        sa.Column("board", sa.String(length=64), nullable=True),
        sa.Column("hw_rev", sa.String(length=32), nullable=True),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("install_date", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("firmware", sa.String(length=64), nullable=True),
        sa.Column("slot", sa.String(length=1), nullable=True),
        sa.Column("boot", sa.Integer(), nullable=True),
        sa.Column("last_seen", sa.DateTime(), nullable=True),
        sa.Column("status_at", sa.DateTime(), nullable=True),
        sa.Column("health", sa.String(length=16), nullable=False),
        sa.Column("health_detail", sa.JSON(), nullable=True),
        sa.Column("health_at", sa.DateTime(), nullable=True),
        sa.Column("edge_id", sa.String(length=64), nullable=True),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("key_revoked", sa.Boolean(), nullable=False),
        sa.Column("sleep_s", sa.Integer(), nullable=False),
        sa.Column("keys_changed_at", sa.DateTime(), nullable=True),
        sa.Column("provisioned_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"], ["work_orders.id"], name=op.f("fk_nodes_work_order_id_work_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_nodes_district_id"), "nodes", ["district", "id"], unique=False)
    op.create_index(op.f("ix_nodes_firmware_id"), "nodes", ["firmware", "id"], unique=False)
    op.create_index(
        op.f("ix_nodes_health_id"),
        "nodes",
        ["health", "id"],
        unique=False,
        sqlite_where=sa.text("health != 'ok'"),
        postgresql_where=sa.text("health != 'ok'"),
    )
    op.create_index(op.f("ix_nodes_last_seen_id"), "nodes", ["last_seen", "id"], unique=False)
    op.create_index(
        op.f("ix_nodes_state_id"),
        "nodes",
        ["state", "id"],
        unique=False,
        sqlite_where=sa.text("state != 'installed'"),
        postgresql_where=sa.text("state != 'installed'"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(
        op.f("ix_nodes_state_id"),
        table_name="nodes",
        sqlite_where=sa.text("state != 'installed'"),
        postgresql_where=sa.text("state != 'installed'"),
    )
    op.drop_index(op.f("ix_nodes_last_seen_id"), table_name="nodes")
    op.drop_index(
        op.f("ix_nodes_health_id"),
        table_name="nodes",
        sqlite_where=sa.text("health != 'ok'"),
        postgresql_where=sa.text("health != 'ok'"),
    )
    op.drop_index(op.f("ix_nodes_firmware_id"), table_name="nodes")
    op.drop_index(op.f("ix_nodes_district_id"), table_name="nodes")
    op.drop_table("nodes")
    op.drop_index(op.f("ix_work_orders_technician_id_id"), table_name="work_orders")
    op.drop_table("work_orders")
    op.drop_table("tokens")
    op.drop_table("technicians")
    op.drop_index(op.f("ix_edges_district"), table_name="edges")
    op.drop_table("edges")
    op.drop_index(op.f("ix_audit_target_id_id"), table_name="audit")
    op.drop_index(op.f("ix_audit_actor_id"), table_name="audit")
    op.drop_table("audit")
