"""Device keys: an Ed25519 signing key in a 0600 file (never in a database)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from base.errors import SmilepayError


class KeyFileError(SmilepayError):
    """A key file is missing, malformed, or readable by others."""


def create_key_file(path: Path) -> Ed25519PrivateKey:
    """Generate a new Ed25519 key and write its 32 raw bytes to `path` with mode 0600.

    Refuses to overwrite an existing key: a device's identity is not replaced by accident.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes_raw())
        out.flush()
        os.fsync(out.fileno())
    return key


def load_key_file(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 key written by `create_key_file`; refuse one that others can read."""
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no device key (run `smilepay device init`)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: key file is readable by others; chmod 600 it")
    if len(raw) != 32:
        raise KeyFileError(f"{path}: expected 32 raw key bytes, found {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The raw public key, base64 (what the ledger stores at registration)."""
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """Parse a base64 raw Ed25519 public key; raises ValueError on bad input."""
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)
