"""security tables: registration codes, customer tokens, rejected sales

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registration_codes",
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=True),
        sa.Column("store_id", sa.String(length=64), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("used_ms", sa.BigInteger(), nullable=True),
        sa.Column("used_by_device_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("code_sha256"),
    )
    op.create_table(
        "customer_tokens",
        sa.Column("nonce_sha256", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("issued_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("spent_ms", sa.BigInteger(), nullable=True),
        sa.Column("spent_sale_id", sa.String(length=64), nullable=True),
        sa.Column("spent_device_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("nonce_sha256"),
    )
    op.create_index("ix_customer_tokens_customer_id", "customer_tokens", ["customer_id"])
    op.create_table(
        "rejected_sales",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sale_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "seq"),
    )
    op.create_index("ix_devices_public_key", "devices", ["public_key"])


def downgrade() -> None:
    op.drop_index("ix_devices_public_key", table_name="devices")
    op.drop_table("rejected_sales")
    op.drop_index("ix_customer_tokens_customer_id", table_name="customer_tokens")
    op.drop_table("customer_tokens")
    op.drop_table("registration_codes")
