"""How a POS and the kiosk trust each other: HMAC-SHA256 request and response signatures.

Each POS has a key file (`smilepay pos provision`): JSON `{"pos_id": ..., "secret": base64 of
32 random bytes}`, mode 0600, one copy on the POS and one on the kiosk. A request carries

    X-Smilepay-Pos        the POS id
    X-Smilepay-Timestamp  unix seconds (refused outside +-300 s of the kiosk's clock)
    X-Smilepay-Nonce      random, never accepted twice
    X-Smilepay-Signature  base64 HMAC-SHA256(secret, METHOD \\n PATH \\n QUERY \\n TIMESTAMP
                          \\n NONCE \\n sha256hex(BODY))

and the kiosk signs its answer the same way (HMAC over "response", the request's nonce, the
status code and the body's sha256) in X-Smilepay-Signature, so a POS on a plain-HTTP store
network can tell a real "approved" from a forged one. Why this and not a bearer token: see
docs/terminal-api.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from base.errors import SmilepayError

HEADER_POS = "X-Smilepay-Pos"
HEADER_TIMESTAMP = "X-Smilepay-Timestamp"
HEADER_NONCE = "X-Smilepay-Nonce"
HEADER_SIGNATURE = "X-Smilepay-Signature"
SKEW_S = 300
SECRET_BYTES = 32


class PosKeyError(SmilepayError):
    """A POS key file is missing, malformed or readable by others."""


@dataclass(frozen=True)
class PosKey:
    """One POS's identity and shared secret."""

    pos_id: str
    secret: bytes


def create_pos_key_file(path: Path, pos_id: str) -> PosKey:
    """Write a new key file (mode 0600); refuses to overwrite one."""
    if not pos_id or len(pos_id) > 64 or not pos_id.replace("-", "").replace("_", "").isalnum():
        raise PosKeyError(f"pos id {pos_id!r}: use 1-64 letters, digits, '-' or '_'")
    key = PosKey(pos_id, secrets.token_bytes(SECRET_BYTES))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PosKeyError(f"{path}: already exists; not overwriting a POS key") from None
    document = {"pos_id": pos_id, "secret": base64.b64encode(key.secret).decode()}
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(document) + "\n")
    return key


def load_pos_key_file(path: Path) -> PosKey:
    """Read a key file written by `create_pos_key_file`; refuse one others can read."""
    try:
        mode, text = path.stat().st_mode, path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PosKeyError(f"{path}: no such POS key file") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PosKeyError(f"{path}: key file is readable by others; chmod 600 it")
    try:
        document = json.loads(text)
        key = PosKey(str(document["pos_id"]), base64.b64decode(document["secret"], validate=True))
    except (ValueError, KeyError, TypeError) as exc:
        raise PosKeyError(f"{path}: not a POS key file ({exc})") from None
    if len(key.secret) != SECRET_BYTES:
        raise PosKeyError(f"{path}: the secret must be {SECRET_BYTES} bytes")
    return key


def request_message(
    method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes
) -> bytes:
    """What a request signature covers."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{query}\n{timestamp}\n{nonce}\n{digest}".encode()


def response_message(nonce: str, status: int, body: bytes) -> bytes:
    """What a response signature covers (bound to the request by its nonce)."""
    return f"response\n{nonce}\n{status}\n{hashlib.sha256(body).hexdigest()}".encode()


def mac(secret: bytes, message: bytes) -> str:
    """base64 HMAC-SHA256."""
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


def sign_request(
    key: PosKey, method: str, path: str, query: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The four headers for one request."""
    timestamp, nonce = str(int(now or time.time())), secrets.token_hex(16)
    message = request_message(method, path, query, timestamp, nonce, body)
    return {
        HEADER_POS: key.pos_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: mac(key.secret, message),
    }


def check_request(
    key: PosKey,
    headers: dict[str, str],
    method: str,
    path: str,
    query: str,
    body: bytes,
    now: float,
) -> str | None:
    """Why the request's signature or freshness fails, or None. Replay is the caller's check."""
    timestamp = headers.get(HEADER_TIMESTAMP, "")
    nonce = headers.get(HEADER_NONCE, "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > SKEW_S:
        return f"{HEADER_TIMESTAMP} missing or more than {SKEW_S} s from the kiosk's clock"
    if not 16 <= len(nonce) <= 64:
        return f"{HEADER_NONCE} must be 16 to 64 characters"
    expected = mac(key.secret, request_message(method, path, query, timestamp, nonce, body))
    if not hmac.compare_digest(expected, headers.get(HEADER_SIGNATURE, "")):
        return "bad signature (wrong key file, or the request was altered)"
    return None
