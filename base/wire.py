"""The contract between device and ledger: sale records, hash chain, signatures, request auth.

A sale record is a JSON object. Its *body* is every field except `signature`; its canonical
encoding is that body as JSON with sorted keys, no spaces, UTF-8, and no floats (a float's text
can differ between encoders, so scores travel as strings). Then:

- `hash`      = sha256(canonical body), hex. Not stored in the body; anyone can recompute it.
- `prev_hash` = the hash of the same device's sale with seq - 1 (GENESIS_HASH for seq 1),
                so editing, deleting or reordering any sale breaks the chain after it.
- `signature` = Ed25519 by the device key over the canonical body, base64.

A batch of consecutive sales also carries a *head signature* over (device, first seq, last seq,
last hash). Because each hash covers the previous one, verifying the head signature and the
hash links authenticates every sale in the batch with one Ed25519 verification; the per-sale
signatures stay for disputes.

HTTP requests from a device are authenticated by four headers (see `sign_request`):
an Ed25519 signature over method, path, timestamp, nonce and the body's sha256. The ledger
rejects a timestamp outside its skew window and a nonce it has already seen.

The HTTP endpoints are listed in sync/PROTOCOL.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS_HASH = "0" * 64
SALE_FIELDS = (
    "sale_id",  # UUID made on the device before anything else happens
    "device_id",
    "seq",  # per-device, 1-based, no gaps
    "amount_minor",  # integer minor units (cents), > 0
    "currency",  # ISO 4217
    "method",  # "face" | "customer_qr" | "merchant_qr"
    "customer_id",  # matched or presented customer, or None
    "evidence",  # method-specific: {"score": "0.3120", "margin": "0.2100", "step_up": False} ...
    "items",  # [{"name": str, "quantity": int, "amount_minor": int}]
    "offline",  # True when taken without the ledger's online authorisation
    "auth_id",  # the ledger's authorisation id when authorised online, else None
    "hlc",  # hybrid logical clock timestamp, sortable text
    "wall_time",  # device wall clock, ISO 8601 UTC (may be wrong: the Pi has no RTC)
    "monotonic_ns",  # time.monotonic_ns() at the sale, meaningful within one boot
    "boot_id",  # which boot the monotonic reading belongs to
    "prev_hash",
)
SaleStatus = Literal["accepted", "duplicate", "declined", "rejected"]


class SaleItem(TypedDict):
    """One basket line of a sale record."""

    name: str
    quantity: int
    amount_minor: int


class SaleRecord(TypedDict):
    """A signed sale record as the device stores and sends it (the fields of SALE_FIELDS)."""

    sale_id: str
    device_id: str
    seq: int
    amount_minor: int
    currency: str
    method: str
    customer_id: str | None
    evidence: dict[str, Any]
    items: list[SaleItem]
    offline: bool
    auth_id: str | None
    hlc: str
    wall_time: str
    monotonic_ns: int
    boot_id: str
    prev_hash: str
    signature: NotRequired[str]


REQUEST_SKEW_S = 300


class WireError(ValueError):
    """A record or request that does not follow the contract; the message says what is wrong."""


def canonical_text(body: dict[str, Any], *, floats_checked: bool = False) -> str:
    """The one canonical encoding of a signed JSON body: sorted keys, compact, no floats.

    `floats_checked`: the caller parsed the body so that a float cannot pass json.dumps (the
    ledger's batch parser marks them), which saves walking every record here."""
    try:
        if not floats_checked:
            _reject_floats(body, "body")
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except TypeError:
        raise WireError("floats are not allowed in signed records; send a string") from None
    except RecursionError:
        raise WireError("a field is nested too deeply") from None


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """`canonical_text` as UTF-8: the bytes that are hashed and signed."""
    return canonical_text(body).encode()


def _reject_floats(value: Any, where: str) -> None:
    if isinstance(value, float):
        raise WireError(f"{where}: floats are not allowed in signed records; send a string")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_floats(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_floats(item, f"{where}[{index}]")


def sale_body(record: dict[str, Any]) -> dict[str, Any]:
    """The signed part of a sale record; raises WireError if a field is missing or unknown."""
    missing = [f for f in SALE_FIELDS if f not in record]
    unknown = sorted(set(record) - set(SALE_FIELDS) - {"signature"})
    if missing or unknown:
        raise WireError(f"sale record: missing fields {missing}, unknown fields {unknown}")
    return {f: record[f] for f in SALE_FIELDS}


def sale_hash(record: dict[str, Any]) -> str:
    """sha256 of the canonical body, hex: the link the next sale's prev_hash points to."""
    return hashlib.sha256(canonical_bytes(sale_body(record))).hexdigest()


def sign_sale(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return the record: the body plus its base64 Ed25519 signature."""
    signature = key.sign(canonical_bytes(sale_body(body)))
    return {**sale_body(body), "signature": base64.b64encode(signature).decode()}


def verify_sale_signature(record: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """True if the record's signature is the device key's signature over its body."""
    try:
        signature = base64.b64decode(record.get("signature", ""), validate=True)
        public_key.verify(signature, canonical_bytes(sale_body(record)))
    except (InvalidSignature, ValueError):
        return False
    return True


def chain_breaks(records: list[dict[str, Any]], prev_hash: str = GENESIS_HASH) -> list[int]:
    """Seq numbers whose prev_hash does not match the hash of the record before them."""
    broken = []
    for record in records:
        if record["prev_hash"] != prev_hash:
            broken.append(int(record["seq"]))
        prev_hash = sale_hash(record)
    return broken


def head_message(device_id: str, first_seq: int, last_seq: int, head_hash: str) -> bytes:
    """What a batch's head signature covers."""
    return f"smilepay-batch-head\n{device_id}\n{first_seq}\n{last_seq}\n{head_hash}".encode()


def sign_head(device_id: str, records: list[dict[str, Any]], key: Ed25519PrivateKey) -> str:
    """Base64 head signature for a non-empty list of consecutive records."""
    message = head_message(device_id, records[0]["seq"], records[-1]["seq"], sale_hash(records[-1]))
    return base64.b64encode(key.sign(message)).decode()


def verify_head(
    device_id: str, records: list[dict[str, Any]], signature_b64: str, public_key: Ed25519PublicKey
) -> bool:
    """True if the head signature covers exactly these records' first seq, last seq and hash."""
    if not records:
        return False
    message = head_message(device_id, records[0]["seq"], records[-1]["seq"], sale_hash(records[-1]))
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class SaleResult:
    """The ledger's answer for one sale of a batch."""

    sale_id: str
    seq: int
    status: SaleStatus
    reason: str | None = None
    settle_later: bool = False  # accepted, but the wallet could not cover it: a visible debt


# --- request authentication -------------------------------------------------------------------


def _ascii_digits(text: str, max_len: int) -> bool:
    # str.isdigit alone accepts "²" and other Unicode digits that int() then refuses.
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()


HEADER_DEVICE = "X-Smilepay-Device"
HEADER_TIMESTAMP = "X-Smilepay-Timestamp"
HEADER_NONCE = "X-Smilepay-Nonce"
HEADER_SIGNATURE = "X-Smilepay-Signature"
HEADER_BACKLOG = "X-Smilepay-Backlog"  # unsigned telemetry on a batch: sales queued behind it


def signed_target(path: str, query: str | bytes = "") -> str:
    """What a request signature names: the path, plus `?query` (raw, as sent) when there is one,
    so nobody between device and ledger can change a query parameter."""
    text = query.decode("ascii", "replace") if isinstance(query, bytes) else query
    return f"{path}?{text}" if text else path


def request_message(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """What a device's request signature covers (`path` is `signed_target`: path and query)."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign_request(
    device_id: str, key: Ed25519PrivateKey, method: str, path: str, body: bytes
) -> dict[str, str]:
    """The four authentication headers for one request."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    signature = key.sign(request_message(method, path, timestamp, nonce, body))
    return {
        HEADER_DEVICE: device_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: base64.b64encode(signature).decode(),
    }


def verify_request(
    headers: dict[str, str],
    public_key: Ed25519PublicKey,
    method: str,
    path: str,
    body: bytes,
    now: float | None = None,
) -> str | None:
    """Check a request's signature and freshness; return the reason it fails, or None if it
    passes. Replay (a nonce seen before) is the caller's check: it owns the nonce store."""
    try:
        timestamp = headers[HEADER_TIMESTAMP]
        nonce = headers[HEADER_NONCE]
        signature = base64.b64decode(headers[HEADER_SIGNATURE], validate=True)
    except KeyError as exc:
        return f"missing header {exc.args[0]}"
    except ValueError:
        return "signature header is not base64"
    if not _ascii_digits(timestamp, 12) or not 1 <= len(nonce) <= 128 or not nonce.isascii():
        return "timestamp must be 1-12 ASCII digits and the nonce 1-128 ASCII characters"
    if abs((now or time.time()) - int(timestamp)) > REQUEST_SKEW_S:
        return "timestamp missing or outside the allowed clock skew"
    try:
        public_key.verify(signature, request_message(method, path, timestamp, nonce, body))
    except InvalidSignature:
        return "bad signature"
    return None
