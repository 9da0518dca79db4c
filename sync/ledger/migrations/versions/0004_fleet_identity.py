"""fleet identity: sealed enrolments and per-merchant gallery changes

Revision ID: 0004
Revises: 0003 (refunds)
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrolments",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("enrolment_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("origin_device_id", sa.String(length=64), nullable=False),
        sa.Column("name_sealed", sa.Text(), nullable=True),
        sa.Column("template_sealed", sa.Text(), nullable=True),
        sa.Column("step_up_sealed", sa.Text(), nullable=True),
        sa.Column("step_up_failures", sa.Integer(), nullable=False),
        sa.Column("enrolled_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_used_ms", sa.BigInteger(), nullable=False),
        sa.Column("deleted_ms", sa.BigInteger(), nullable=True),
        sa.Column("deletion_reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("customer_id"),
        sa.UniqueConstraint("enrolment_id"),
    )
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrolments_merchant_id"), ["merchant_id"])
    with op.batch_alter_table("gallery_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merchant_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_gallery_changes_merchant_id"), ["merchant_id"])
    # Templates and step-up hashes were kept in clear here: wipe them (they are not sent again).
    op.execute(
        "UPDATE gallery_changes SET template_b64 = NULL, step_up_salt = NULL,"
        " step_up_hash = NULL, name = NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("gallery_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gallery_changes_merchant_id"))
        batch_op.drop_column("merchant_id")
    op.drop_table("enrolments")
