"""Keep the ledger's answer on each outbox row; make queued sales append-only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Adds columns only (existing rows get NULL / 0) and triggers that refuse UPDATE and DELETE on
`sales`: a queued sale is never rewritten, by a bug or by a later migration.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = (
    "ALTER TABLE outbox ADD COLUMN ledger_status TEXT",
    "ALTER TABLE outbox ADD COLUMN reason TEXT",
    "ALTER TABLE outbox ADD COLUMN settle_later INTEGER NOT NULL DEFAULT 0",
    """CREATE TRIGGER sales_no_update BEFORE UPDATE ON sales
       BEGIN SELECT RAISE(ABORT, 'queued sales are append-only'); END""",
    """CREATE TRIGGER sales_no_delete BEFORE DELETE ON sales
       BEGIN SELECT RAISE(ABORT, 'queued sales are append-only'); END""",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the device database is never downgraded")
