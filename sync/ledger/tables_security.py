"""The ledger's security tables (issue 13): single-use registration codes, customer tokens
issued and spent (by the sha256 of their nonce, never the token), and the chain links of
authentic sales the ledger could not book (so a rejected sale never blocks the ones after it)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from sync.ledger.tables import devices, metadata

registration_codes = Table(
    "registration_codes",
    metadata,
    Column("code_sha256", String(64), primary_key=True),  # the code itself is never stored
    Column("merchant_id", String(64)),  # when set, the kiosk must register for this merchant
    Column("store_id", String(64)),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("used_ms", BigInteger),
    Column("used_by_device_id", String(64)),
)

customer_tokens = Table(
    "customer_tokens",
    metadata,
    Column("nonce_sha256", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("issued_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("spent_ms", BigInteger),
    Column("spent_sale_id", String(64)),
    Column("spent_device_id", String(64)),
)

rejected_sales = Table(
    "rejected_sales",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("hash", String(64), nullable=False),  # the chain link the next sale points to
    Column("sale_id", String(64)),  # None when the record's own sale_id is unusable
    Column("reason", String(300), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("record_json", Text, nullable=False),  # ASCII-escaped: any text survives storage
)

# A revoked kiosk's key is looked up by value at every registration.
Index("ix_devices_public_key", devices.c.public_key)
