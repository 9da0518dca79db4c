"""Alembic environment: runs on the connection the ledger hands over (see storage.migrate)."""

from alembic import context

from sync.ledger import tables_security  # noqa: F401  (its tables join the metadata)
from sync.ledger.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
