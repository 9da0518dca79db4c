"""Sales, their outbox rows, the chain head and a small key-value table.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = (
    """CREATE TABLE sales (
        seq INTEGER PRIMARY KEY,
        sale_id TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL,
        hash TEXT NOT NULL,
        amount_minor INTEGER NOT NULL,
        currency TEXT NOT NULL,
        customer_id TEXT,
        offline INTEGER NOT NULL,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY REFERENCES sales (seq),
        state TEXT NOT NULL CHECK (state IN ('pending', 'synced', 'rejected')),
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX outbox_unsynced ON outbox (seq) WHERE state != 'synced'",
    """CREATE TABLE chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_seq INTEGER NOT NULL,
        last_hash TEXT NOT NULL,
        hlc TEXT NOT NULL
    )""",
    "INSERT INTO chain_head (id, last_seq, last_hash, hlc) VALUES (1, 0, '" + "0" * 64
    + "', '000000000000000-000000')",
    "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the device database is never downgraded")
