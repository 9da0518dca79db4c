"""The kiosk's durable store of spent customer-token nonces (by sha256, never the token).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A token pays once: the nonce of every token that paid a sale here is kept, so the same token
shown again (a screenshot, a replayed QR) is declined at once, online or offline.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = (
    """CREATE TABLE used_token_nonces (
        nonce_sha256 TEXT PRIMARY KEY,
        sale_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at REAL NOT NULL
    )""",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the device database is never downgraded")
