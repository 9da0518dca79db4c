"""The refund record: the second record kind a device signs, beside the sale (base/wire.py).

A refund gives back all or part of one sale. Like sales, a device's refunds are numbered
(`seq`, 1-based, no gaps, a chain of its own), each links to the previous one by `prev_hash`,
and each is signed with the device key over its canonical body (base.wire.canonical_bytes).
The body carries `kind: "refund"`, so a refund signature can never pass for a sale's.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from base.wire import GENESIS_HASH, WireError, canonical_bytes

REFUND_KIND = "refund"
REFUND_FIELDS = (
    "kind",  # always "refund"
    "refund_id",  # UUID made on the device before anything else happens
    "device_id",
    "seq",  # per-device refund sequence, 1-based, no gaps (separate from the sales' seq)
    "sale_id",  # the sale it gives money back from
    "amount_minor",  # > 0, never more than what remains of the sale
    "currency",
    "reference",  # the POS's (or operator's) reference for this refund
    "reason",  # free text, may be empty
    "wall_time",  # device wall clock, ISO 8601 UTC
    "prev_hash",
)
__all__ = [
    "GENESIS_HASH",
    "REFUND_FIELDS",
    "refund_body",
    "refund_hash",
    "sign_refund",
    "verify_refund_signature",
]


def refund_body(record: dict[str, Any]) -> dict[str, Any]:
    """The signed part of a refund record; raises WireError if a field is missing or unknown."""
    missing = [f for f in REFUND_FIELDS if f not in record]
    unknown = sorted(set(record) - set(REFUND_FIELDS) - {"signature"})
    if missing or unknown:
        raise WireError(f"refund record: missing fields {missing}, unknown fields {unknown}")
    if record["kind"] != REFUND_KIND:
        raise WireError(f"refund record: kind is {record['kind']!r}, not 'refund'")
    return {f: record[f] for f in REFUND_FIELDS}


def refund_hash(record: dict[str, Any]) -> str:
    """sha256 of the canonical body, hex: what the next refund's prev_hash points to."""
    return hashlib.sha256(canonical_bytes(refund_body(record))).hexdigest()


def sign_refund(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The record: the body plus its base64 Ed25519 signature."""
    signed = refund_body(body)
    signature = key.sign(canonical_bytes(signed))
    return {**signed, "signature": base64.b64encode(signature).decode()}


def verify_refund_signature(record: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True if the record's signature is the device key's over its body."""
    try:
        signature = base64.b64decode(record.get("signature", ""), validate=True)
        public_key.verify(signature, canonical_bytes(refund_body(record)))
    except (InvalidSignature, ValueError):
        return False
    return True
