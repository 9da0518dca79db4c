"""Encryption of face templates in transit and at rest.

In transit (ledger to kiosk), a *sealed box*: ephemeral X25519, HKDF-SHA256, AES-256-GCM. The
kiosk's X25519 key is derived from its registered Ed25519 signing key the way libsodium's
`crypto_sign_ed25519_*_to_curve25519` does (public: the Edwards point's Montgomery u; private:
the clamped first half of sha512(seed)), so every kiosk already registered can receive templates
and nothing new has to be registered or stored. Only the holder of the kiosk's private key can
open a box; the ledger needs only the public key it already has.

At rest, `KeyFileSealer`: AES-256-GCM under a 32-byte key kept in a 0600 file outside the
database, with a caller-given context (e.g. the customer id) as associated data.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from base.errors import SmilepayError

FIELD_PRIME = 2**255 - 19
BOX_INFO = b"smilepay sealed template v1"
BOX_OVERHEAD = 32 + 12 + 16  # ephemeral public key, nonce, tag


class SealError(SmilepayError):
    """A box or sealed value could not be opened (wrong key, altered, or malformed)."""


def x25519_public_from_ed25519(public: Ed25519PublicKey) -> X25519PublicKey:
    """The Montgomery form u = (1 + y) / (1 - y) of the Edwards point y."""
    y = int.from_bytes(public.public_bytes_raw(), "little") & ((1 << 255) - 1)
    u = (1 + y) * pow(1 - y, FIELD_PRIME - 2, FIELD_PRIME) % FIELD_PRIME
    return X25519PublicKey.from_public_bytes(u.to_bytes(32, "little"))


def x25519_private_from_ed25519(private: Ed25519PrivateKey) -> X25519PrivateKey:
    """The X25519 scalar an Ed25519 seed expands to (clamped by X25519 itself)."""
    return X25519PrivateKey.from_private_bytes(
        hashlib.sha512(private.private_bytes_raw()).digest()[:32]
    )


def _box_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(hashes.SHA256(), 32, salt=ephemeral + recipient, info=BOX_INFO)
    return hkdf.derive(shared)


def seal_to(recipient: X25519PublicKey, plain: bytes, context: bytes) -> str:
    """A base64 box only `recipient`'s private key opens; `context` is bound as associated data."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes_raw()
    recipient_raw = recipient.public_bytes_raw()
    key = _box_key(ephemeral.exchange(recipient), ephemeral_raw, recipient_raw)
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, plain, context)
    return base64.b64encode(ephemeral_raw + nonce + sealed).decode()


def open_box(private: X25519PrivateKey, box_b64: str, context: bytes) -> bytes:
    """Open a box made by `seal_to` for this key; SealError if it is not ours or was altered."""
    try:
        raw = base64.b64decode(box_b64, validate=True)
    except ValueError:
        raise SealError("sealed template is not base64") from None
    if len(raw) < BOX_OVERHEAD:
        raise SealError("sealed template is too short")
    ephemeral_raw, nonce, sealed = raw[:32], raw[32:44], raw[44:]
    recipient_raw = private.public_key().public_bytes_raw()
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    try:
        return AESGCM(_box_key(shared, ephemeral_raw, recipient_raw)).decrypt(
            nonce, sealed, context
        )
    except InvalidTag:
        raise SealError("sealed template does not open with this device's key") from None


def load_or_create_secret_key(path: Path) -> bytes:
    """A 32-byte key file (created 0600 if absent; refused if others can read it)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SealError(f"{path}: key file is readable by others; chmod 600 it")
    key = path.read_bytes()
    if len(key) != 32:
        raise SealError(f"{path}: expected a 32-byte key, found {len(key)} bytes")
    return key


class KeyFileSealer:
    """AES-256-GCM at rest under a key that lives in a file, not in the database."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> KeyFileSealer:
        """The sealer for the key in `path` (created 0600 if absent)."""
        return cls(load_or_create_secret_key(path))

    def seal(self, plain: bytes, context: bytes) -> str:
        """base64(nonce + ciphertext + tag)."""
        nonce = secrets.token_bytes(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plain, context)).decode()

    def open(self, sealed_b64: str, context: bytes) -> bytes:
        """The plain bytes; SealError if altered, moved to another context, or another key."""
        raw = base64.b64decode(sealed_b64)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context)
        except InvalidTag:
            raise SealError("sealed value does not open: altered, moved, or another key") from None
