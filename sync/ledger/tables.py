"""The ledger's tables (SQLAlchemy Core). Portable SQL only: the same schema runs on SQLite,
PostgreSQL and PostgreSQL-protocol distributed SQL engines. Times are integer milliseconds."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("store_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("registered_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger),
    Column("last_seq", BigInteger, nullable=False),  # highest seq booked from this device
    Column("gallery_cursor", BigInteger, nullable=False),  # last gallery change it acknowledged
)

device_limits = Table(
    "device_limits",
    metadata,
    Column("device_id", String(64), ForeignKey("devices.device_id"), primary_key=True),
    Column("limits_json", Text, nullable=False),
)

nonces = Table(
    "nonces",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("seen_ms", BigInteger, nullable=False, index=True),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("deleted_ms", BigInteger),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(100), primary_key=True),  # e.g. "wallet:<customer_id>"
    Column("kind", String(20), nullable=False),  # wallet|settle_later|merchant|settlement|suspense
    Column("owner_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    # TigerBeetle's four counters: a pending transfer adds to *_pending, posting moves it to
    # *_posted, voiding takes it back out of *_pending. Debits always equal credits in total.
    Column("debits_pending", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
)

transfers = Table(
    "transfers",
    metadata,
    Column("transfer_id", String(64), primary_key=True),
    # topup|sale|settle_later|declined|settle|hold|post|void
    Column("kind", String(20), nullable=False),
    Column("phase", String(10), nullable=False),  # posted|pending|post|void (see bookkeeping)
    Column("debit_account_id", String(100), nullable=False, index=True),
    Column("credit_account_id", String(100), nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("pending_id", String(64)),  # the pending transfer a post/void resolves
    Column("sale_id", String(64)),
    Column("reference", String(200)),
    Column("created_ms", BigInteger, nullable=False),
)

authorizations = Table(
    "authorizations",
    metadata,
    Column("auth_id", String(64), primary_key=True),
    Column("sale_id", String(64), nullable=False, unique=True),
    Column("device_id", String(64), nullable=False),
    Column("customer_id", String(64)),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("method", String(20), nullable=False),
    Column("status", String(10), nullable=False),  # approved|declined
    Column("reason", String(200)),
    Column("pending_transfer_id", String(64)),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

sales = Table(
    "sales",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("sale_id", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("customer_id", String(64)),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(10), nullable=False),  # accepted|declined
    Column("reason", String(200)),
    Column("settle_later", Boolean, nullable=False),
    Column("transfer_id", String(64), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    # The signed record, kept for disputes: its canonical body (sha256 of it is `hash`) and
    # the device's signature over it.
    Column("record_json", Text, nullable=False),
    Column("signature", String(100)),
)

batches = Table(
    "batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("device_id", String(64), nullable=False, index=True),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("declined", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
)

anomalies = Table(
    "anomalies",
    metadata,
    Column("anomaly_id", String(64), primary_key=True),
    Column("device_id", String(64), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # gap|chain_break|rejected|bad_head
    Column("from_seq", BigInteger, nullable=False),
    Column("to_seq", BigInteger, nullable=False),
    Column("detail", String(300), nullable=False),
    Column("detected_ms", BigInteger, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

gallery_changes = Table(
    "gallery_changes",
    metadata,
    # Taken from counters["gallery"] under its row lock, so ids commit in order and a kiosk's
    # cursor never skips a change that committed late.
    Column("change_id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("action", String(10), nullable=False),  # upsert|delete
    Column("name", String(200)),
    Column("template_b64", Text),
    Column("step_up_salt", String(200)),
    Column("step_up_hash", String(200)),
    Column("origin_device_id", String(64)),
    Column("created_ms", BigInteger, nullable=False),
    # Whose kiosks receive it (NULL: a change from before fleet distribution, sent to nobody).
    Column("merchant_id", String(64), index=True),
)

# One row per enrolled customer: the template and step-up hash sealed with the ledger's template
# key (a file outside the database), and the merchant whose kiosks may hold the template.
enrolments = Table(
    "enrolments",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("enrolment_id", String(64), nullable=False, unique=True),  # made by the kiosk
    Column("merchant_id", String(64), nullable=False, index=True),
    Column("origin_device_id", String(64), nullable=False),
    Column("name_sealed", Text),
    Column("template_sealed", Text),  # NULL once deleted
    Column("step_up_sealed", Text),
    Column("step_up_failures", Integer, nullable=False),
    Column("enrolled_ms", BigInteger, nullable=False),
    Column("last_used_ms", BigInteger, nullable=False),
    Column("deleted_ms", BigInteger),
    Column("deletion_reason", String(200)),
)

consents = Table(
    "consents",
    metadata,
    Column("consent_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("text_version", String(100), nullable=False),
    Column("accepted_at", String(40), nullable=False),
    Column("kiosk_id", String(64), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("recorded_ms", BigInteger, nullable=False),
)

deletions = Table(
    "deletions",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("device_id", String(64), primary_key=True),
    Column("requested_ms", BigInteger, nullable=False),
    Column("confirmed_ms", BigInteger),
)

# Partial unique indexes: most transfers (sales) have neither a pending_id nor a reference,
# and indexing their NULLs would cost every sale two index insertions for nothing.
Index(
    "uq_transfers_pending_id",
    transfers.c.pending_id,
    unique=True,
    postgresql_where=transfers.c.pending_id.is_not(None),
    sqlite_where=transfers.c.pending_id.is_not(None),
)
Index(
    "uq_transfers_kind_reference",
    transfers.c.kind,
    transfers.c.reference,
    unique=True,
    postgresql_where=transfers.c.reference.is_not(None),
    sqlite_where=transfers.c.reference.is_not(None),
)
