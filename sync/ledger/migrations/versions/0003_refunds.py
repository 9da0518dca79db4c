"""refunds: a device's signed refund records, booked as transfers back to the customer

Revision ID: 0003
Revises: 0002 (security tables)
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'refunds',
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('refund_id', sa.String(length=64), nullable=False),
        sa.Column('sale_id', sa.String(length=64), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('record_json', sa.Text(), nullable=False),
        sa.Column('signature', sa.String(length=100), nullable=False),
        sa.Column('received_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('device_id', 'seq'),
        sa.UniqueConstraint('refund_id'),
    )
    op.create_index('ix_refunds_sale_id', 'refunds', ['sale_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_refunds_sale_id', table_name='refunds')
    op.drop_table('refunds')
