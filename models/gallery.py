"""The enrolled customers' face templates: encrypted at rest, searched exhaustively in memory.

Storage: one SQLite file. Each template (128 float32) is sealed with AES-256-GCM under a key kept
in a separate 0600 file, with the customer id and name as associated data, so a template moved to
another customer or altered fails decryption loudly. Consent records are written before any
template; a deletion removes the template and records when and why.

Search: every template is held in memory only as 128 one-byte codes (128 bytes), written in
axes fitted to the gallery (its principal axes, an orthogonal change of axes that keeps every
distance). For dlib descriptors the first 48 of those axes carry about 93-96 % of the spread, so a
first pass scans only those 48 bytes per template (faiss, no approximate index): the coded
distance over them, less the largest quantization error, is a lower bound on the true distance.
The candidates' full coded distances follow from the rest of their codes, and the closest are
decrypted from the database and re-ranked at full precision, until the exact second-best is
provably closer than anything not re-ranked. The result is the same best and second-best as an
exhaustive float32 scan; when the bound cannot prove it from a widened candidate list, every
prefix distance is computed (slow, still exact). Random-looking templates (no few directions
dominate) keep one pass over all 128 codes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.errors import SmilepayError
from base.private_files import private_db_file

DIMENSIONS = 128
CODE_RANGE = 0.6  # components beyond ±0.6 are clamped: the error bound grows and covers it
FIRST_CANDIDATES = 16  # one-pass scan: candidates asked of the first scan
FIRST_PREFIX_CANDIDATES = 1024  # prefix scan: 96 % of queries settled at 1M (256: 69 %)
FALLBACK_FROM = 4096  # beyond this many candidates every prefix distance is computed
RERANK_FIRST = 8  # the most promising candidates, decrypted in a first read
RERANK_MAX = 256  # ... then the others not ruled out, up to this many per read
SLACK = 1e-4  # float rounding (the rotation, the distances) on top of the quantization error
PREFIX_DIMS = 48  # rotated components in the first pass (dlib: 93-96 % of the spread)
PREFIX_ENERGY = 0.85  # ...used only if they carry at least this share of it
FIT_FROM = 1_000  # templates needed to fit the rotation (at load, or once grown to it)
FIT_SAMPLE = 10_000  # the rotation is fitted on the first templates, by slot
RANGE_MARGIN = 1.5  # code range: this much beyond the farthest fitted component
SPLIT_FROM = 100_000  # below this a scan is ~2 ms and threads cost more than they save
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}

SCHEMA = """
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, subject TEXT NOT NULL,
    accepted_at TEXT NOT NULL, kiosk_id TEXT NOT NULL, text_version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    slot INTEGER PRIMARY KEY, customer_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    nonce BLOB NOT NULL, sealed BLOB NOT NULL, step_up_salt TEXT, step_up_hash TEXT,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gallery_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deletions (
    id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, deleted_at TEXT NOT NULL,
    reason TEXT NOT NULL, template_removed INTEGER NOT NULL);
"""


class GalleryError(SmilepayError):
    """The gallery cannot do what was asked (bad input, bad key file, unknown customer)."""


class TemplateTampered(GalleryError):
    """A stored template failed authenticated decryption: altered, swapped or wrong key."""


@dataclass(frozen=True)
class Consent:
    """Who consented, when (ISO 8601 UTC), on which kiosk, to which version of the text."""

    subject: str
    accepted_at: str
    kiosk_id: str
    text_version: str


@dataclass(frozen=True)
class Match:
    """Best and second-best customers for a query; distances are dlib-style Euclidean."""

    best_id: str
    best_name: str
    best_distance: float
    second_distance: float | None

    @property
    def margin(self) -> float | None:
        """How much closer the best is than the second-best (None with one customer)."""
        return None if self.second_distance is None else self.second_distance - self.best_distance


@dataclass(frozen=True)
class Customer:
    """An enrolled customer as listed by the gallery."""

    customer_id: str
    name: str
    updated_at: str


def now_iso() -> str:
    """The current UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_or_create_key(path: Path) -> bytes:
    """Read the 32-byte template key, creating it (mode 0600) if it does not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secrets.token_bytes(32))
        handle.flush()
        os.fsync(handle.fileno())
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    if path.stat().st_mode & 0o077:
        raise GalleryError(f"{path}: template key file must be private (chmod 600)")
    key = path.read_bytes()
    if len(key) != 32:
        raise GalleryError(f"{path}: template key must be 32 bytes, found {len(key)}")
    return key


def read_template(path: Path, key_path: Path, customer_id: str) -> np.ndarray | None:
    """One customer's decrypted template straight from the file, without building the search
    codes (which decrypts every template): what the sync agent needs to upload an enrolment."""
    aead = AESGCM(load_or_create_key(key_path))
    with closing(sqlite3.connect(path)) as connection:
        row = connection.execute(
            "SELECT name, nonce, sealed FROM templates WHERE customer_id = ?", (customer_id,)
        ).fetchone()
    if row is None:
        return None
    try:
        plain = aead.decrypt(row[1], row[2], _associated_data(customer_id, row[0]))
    except InvalidTag:
        raise TemplateTampered(f"template of customer {customer_id} failed decryption") from None
    return np.frombuffer(plain, dtype=np.float32)


# A step in one `Gallery.apply_changes` transaction: ("upsert", customer_id, name, embedding)
# or ("delete", customer_id, reason).
Change = tuple[str, str, str, "np.ndarray | None"]
# Called with the gallery's connection inside the transaction that writes the template (an
# outbox row written there commits or rolls back together with it).
WithinTransaction = Callable[[sqlite3.Connection], object]


def step_up_secret(digits: str, salt: bytes | None = None) -> tuple[str, str]:
    """(salt_hex, hash_hex) for a step-up code (phone last digits or PIN), scrypt-hashed."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(digits.encode(), salt=salt, **SCRYPT)
    return salt.hex(), digest.hex()


def check_vector(vector: object) -> np.ndarray:
    """A finite 128-d float32 vector, or GalleryError."""
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if array.size != DIMENSIONS or not np.all(np.isfinite(array)):
        raise GalleryError(f"a face template must be {DIMENSIONS} finite numbers")
    return array


def _associated_data(customer_id: str, name: str) -> bytes:
    return json.dumps([customer_id, name], ensure_ascii=False).encode()


class Gallery:
    """Enrolled templates in `<data_dir>/gallery.db`; use `Gallery.open(path, key_path)`."""

    def __init__(self, connection: sqlite3.Connection, key: bytes, search_threads: int = 1) -> None:
        self._db = connection
        self._aead = AESGCM(key)
        self._lock = threading.RLock()
        self._threads = search_threads
        self._index = CodeIndex(search_threads)
        self._load_index()
        self._seen_version = self._data_version()
        self._generation = self._read_generation()

    @classmethod
    def open(cls, path: Path, key_path: Path, search_threads: int = 1) -> Gallery:
        """Open (or create) the gallery database and its key file.

        `search_threads` sets faiss's OpenMP threads for the whole process: one query scans
        fastest on one thread when other work shares the cores (measured: 1.5 ms vs 11 ms at
        100k on a loaded 2-core machine).
        """
        key = load_or_create_key(key_path)
        private_db_file(path)  # templates: 0600 in a 0700 directory
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        # Deleted rows and freed pages are overwritten with zeros, so a deleted template's
        # bytes leave the file (and, after the checkpoint in `_purge_wal`, the WAL too).
        connection.execute("PRAGMA secure_delete=ON")
        connection.executescript(SCHEMA)
        return cls(connection, key, search_threads)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __len__(self) -> int:
        return self._index.count

    @property
    def memory_bytes_per_template(self) -> int:
        """Bytes of memory each template takes in the search index (its 8-bit code)."""
        return self._index.bytes_per_template

    # --- writing -------------------------------------------------------------------------

    def enroll(
        self,
        name: str,
        embeddings: Sequence[np.ndarray],
        consent: Consent,
        customer_id: str | None = None,
        within: Callable[[sqlite3.Connection, str], object] | None = None,
        consent_recorded: bool = False,
    ) -> str:
        """Record the consent, then keep the average of `embeddings`; return the customer id
        (a new one unless given). `within(connection, customer_id)` runs in the template's
        transaction."""
        if not name.strip():
            raise GalleryError("a customer needs a name")
        if not embeddings:
            raise GalleryError("enrollment needs at least one face capture")
        vectors = np.stack([check_vector(vector) for vector in embeddings])
        customer_id = customer_id or uuid.uuid4().hex
        hook = None if within is None else (lambda conn: within(conn, customer_id))
        with self._lock:
            if not consent_recorded:  # committed on its own, before any template exists
                self.record_consent(customer_id, consent)
            self.upsert_many([(customer_id, name, vectors.mean(axis=0), None, None)], hook)
        return customer_id

    def record_consent(self, customer_id: str, consent: Consent) -> None:
        """Keep a consent record (committed at once: it must exist before any template)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO consents (customer_id, subject, accepted_at, kiosk_id, text_version)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    customer_id,
                    consent.subject,
                    consent.accepted_at,
                    consent.kiosk_id,
                    consent.text_version,
                ),
            )

    def upsert(
        self,
        customer_id: str,
        name: str,
        embedding: np.ndarray,
        step_up_salt: str | None = None,
        step_up_hash: str | None = None,
    ) -> None:
        """Insert or replace one customer's template (and step-up secret)."""
        self.upsert_many([(customer_id, name, embedding, step_up_salt, step_up_hash)])

    def upsert_many(
        self,
        rows: Iterable[tuple[str, str, np.ndarray, str | None, str | None]],
        within: WithinTransaction | None = None,
    ) -> None:
        """Insert or replace many templates in one transaction (with `within`'s writes)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._follow_other_writers()
            try:
                changes: list[tuple[int, np.ndarray]] = []
                next_slot = self._index.count
                for row in rows:
                    slot, vector = self._write_template(next_slot, *row)
                    next_slot += slot == next_slot
                    changes.append((slot, vector))
                if within is not None:
                    within(self._db)
                generation = self._bump_generation()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._index.apply(changes)
            self._generation = generation
            self._refit_when_grown()

    def _write_template(
        self,
        next_slot: int,
        customer_id: str,
        name: str,
        embedding: np.ndarray,
        salt: str | None,
        digest: str | None,
    ) -> tuple[int, np.ndarray]:
        """Seal and store one template at its existing slot, or at `next_slot` if new."""
        vector = check_vector(embedding)
        if not customer_id or not name.strip():
            raise GalleryError("a template needs a customer id and a name")
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, vector.tobytes(), _associated_data(customer_id, name))
        row = self._db.execute(
            "SELECT slot FROM templates WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        slot = int(row[0]) if row else next_slot
        self._db.execute(
            "INSERT OR REPLACE INTO templates (slot, customer_id, name, nonce, sealed,"
            " step_up_salt, step_up_hash, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (slot, customer_id, name, nonce, sealed, salt, digest, now_iso()),
        )
        return slot, vector

    def delete(
        self, customer_id: str, reason: str, within: WithinTransaction | None = None
    ) -> bool:
        """Remove a customer's template (row, search code, WAL copies) and record the deletion;
        False if there was none."""
        return customer_id in self.apply_changes([("delete", customer_id, reason, None)], within)

    def apply_changes(
        self, changes: Sequence[Change], within: WithinTransaction | None = None
    ) -> list[str]:
        """Apply upserts and deletions in order, in one transaction; return the customers whose
        template a deletion removed. The search codes follow after the commit."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._follow_other_writers()
            try:
                steps, removed = self._write_changes(changes)
                if within is not None:
                    within(self._db)
                generation = self._bump_generation()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._replay_on_index(steps)
            self._generation = generation
            self._refit_when_grown()
            if any(kind == "delete" for kind, *_ in changes):
                self._purge_wal()
        return removed

    def _write_changes(
        self, changes: Sequence[Change]
    ) -> tuple[list[tuple[str, int, np.ndarray | None]], list[str]]:
        """The database half of `apply_changes`: returns the index steps and removed ids."""
        steps: list[tuple[str, int, np.ndarray | None]] = []
        removed: list[str] = []
        count = self._index.count
        for kind, customer_id, text, embedding in changes:
            if kind == "upsert":
                assert embedding is not None
                slot, vector = self._write_template(count, customer_id, text, embedding, None, None)
                count += slot == count
                steps.append(("upsert", slot, vector))
                continue
            if not text.strip():
                raise GalleryError("a deletion needs a reason")
            slot_removed = self._remove_row(customer_id, count - 1)
            self._db.execute(
                "INSERT INTO deletions (customer_id, deleted_at, reason, template_removed)"
                " VALUES (?, ?, ?, ?)",
                (customer_id, now_iso(), text, int(slot_removed is not None)),
            )
            if slot_removed is not None:
                count -= 1
                steps.append(("delete", slot_removed, None))
                removed.append(customer_id)
        return steps, removed

    def _replay_on_index(self, steps: list[tuple[str, int, np.ndarray | None]]) -> None:
        """Apply the committed steps to the codes, runs of upserts in one batch."""
        run: list[tuple[int, np.ndarray]] = []
        for kind, slot, vector in steps:
            if kind == "upsert" and vector is not None:
                run.append((slot, vector))
                continue
            self._index.apply(run)
            run = []
            self._index.remove(slot)
        self._index.apply(run)

    def _purge_wal(self) -> None:
        """Checkpoint and truncate the WAL so no older copy of a deleted row stays in it.

        A reader holding an old snapshot (another process) blocks the truncation; the
        checkpoint is retried a few times and the outcome logged by the caller's next delete."""
        for _ in range(50):
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return
            time.sleep(0.02)

    def _remove_row(self, customer_id: str, last: int) -> int | None:
        """Delete the row and move the `last` slot into the hole, keeping slots dense."""
        row = self._db.execute(
            "SELECT slot FROM templates WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        if row is None:
            return None
        slot = int(row[0])
        self._db.execute("DELETE FROM templates WHERE slot = ?", (slot,))
        if slot != last:
            self._db.execute("UPDATE templates SET slot = ? WHERE slot = ?", (slot, last))
        return slot

    # --- reading -------------------------------------------------------------------------

    def search(self, vector: np.ndarray) -> Match | None:
        """The best and second-best customers for a face descriptor, exact; None if empty."""
        query = check_vector(vector)
        with self._lock:
            self._follow_other_writers()
            if self._index.count == 0:
                return None
            ranked = self._index.search(query, self._exact_distances)
        (best_distance, best_id, best_name), *rest = ranked
        second = rest[0][0] if rest else None
        return Match(best_id, best_name, best_distance, second)

    def _exact_distances(
        self, query: np.ndarray, slots: np.ndarray
    ) -> list[tuple[float, str, str]]:
        placeholders = ",".join("?" * len(slots))
        rows = self._db.execute(
            "SELECT customer_id, name, nonce, sealed FROM templates"
            f" WHERE slot IN ({placeholders})",
            [int(slot) for slot in slots],
        ).fetchall()
        if not rows:
            return []
        vectors = np.stack([self._open_template(*row) for row in rows])
        distances = np.linalg.norm(vectors - query, axis=1)
        return sorted(
            (float(distance), str(row[0]), str(row[1]))
            for distance, row in zip(distances, rows, strict=True)
        )

    def _open_template(
        self, customer_id: str, name: str, nonce: bytes, sealed: bytes
    ) -> np.ndarray:
        try:
            plain = self._aead.decrypt(nonce, sealed, _associated_data(customer_id, name))
        except InvalidTag:
            raise TemplateTampered(
                f"template of customer {customer_id} failed decryption: altered, swapped "
                "between customers, or the template key changed"
            ) from None
        return np.frombuffer(plain, dtype=np.float32)

    def template(self, customer_id: str) -> np.ndarray:
        """One customer's decrypted template (GalleryError if unknown)."""
        row = self._db.execute(
            "SELECT customer_id, name, nonce, sealed FROM templates WHERE customer_id = ?",
            (customer_id,),
        ).fetchone()
        if row is None:
            raise GalleryError(f"no template for customer {customer_id}")
        return self._open_template(*row)

    def template_or_none(self, customer_id: str) -> np.ndarray | None:
        """One customer's decrypted template, or None if there is none (deleted, never here)."""
        try:
            return self.template(customer_id)
        except TemplateTampered:
            raise
        except GalleryError:
            return None

    def check_step_up(self, customer_id: str, digits: str) -> bool:
        """Whether `digits` match the customer's step-up secret (False if none is set)."""
        row = self._db.execute(
            "SELECT step_up_salt, step_up_hash FROM templates WHERE customer_id = ?",
            (customer_id,),
        ).fetchone()
        if row is None or not row[0] or not row[1]:
            return False
        _, digest = step_up_secret(digits, bytes.fromhex(row[0]))
        return hmac.compare_digest(digest, row[1])

    def customers(self) -> list[Customer]:
        """Every customer with a template, oldest slot first."""
        rows = self._db.execute(
            "SELECT customer_id, name, updated_at FROM templates ORDER BY slot"
        ).fetchall()
        return [Customer(*row) for row in rows]

    def consents(self, customer_id: str) -> list[Consent]:
        """The consent records kept for a customer (kept after deletion as evidence)."""
        rows = self._db.execute(
            "SELECT subject, accepted_at, kiosk_id, text_version FROM consents"
            " WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        ).fetchall()
        return [Consent(*row) for row in rows]

    def deletions(self, customer_id: str) -> list[tuple[str, str]]:
        """(deleted_at, reason) for each recorded deletion of a customer."""
        rows = self._db.execute(
            "SELECT deleted_at, reason FROM deletions WHERE customer_id = ? ORDER BY id",
            (customer_id,),
        ).fetchall()
        return [(str(at), str(reason)) for at, reason in rows]

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _read_generation(self) -> int:
        row = self._db.execute(
            "SELECT value FROM gallery_meta WHERE name = 'generation'"
        ).fetchone()
        return int(row[0]) if row else 0

    def _bump_generation(self) -> int:
        """Count template writes, so other connections' writes to other tables (the enrolment
        outbox) do not make every reader rebuild its codes."""
        self._db.execute(
            "INSERT INTO gallery_meta (name, value) VALUES ('generation', 1)"
            " ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        return self._read_generation()

    def _follow_other_writers(self) -> None:
        """Rebuild the codes if another connection (the sync agent's process) changed the
        templates; a change to other tables only is skipped."""
        version = self._data_version()
        if version == self._seen_version:
            return
        self._seen_version = version
        generation = self._read_generation()
        if generation != self._generation:
            self._load_index()
            self._generation = generation

    def _load_index(self) -> None:
        """Decrypt every template once (at start-up) and build the in-memory codes, in axes
        fitted to the first FIT_SAMPLE templates when there are at least FIT_FROM."""
        cursor = self._db.execute(
            "SELECT slot, customer_id, name, nonce, sealed FROM templates ORDER BY slot"
        )
        index: CodeIndex | None = None
        while batch := cursor.fetchmany(FIT_SAMPLE):
            if batch[0][0] != (0 if index is None else index.count):
                raise GalleryError("gallery slots are not dense: the database is damaged")
            vectors = [self._open_template(*row[1:]) for row in batch]
            if index is None:
                fit = len(vectors) >= FIT_FROM
                index = CodeIndex(self._threads, Rotation.fit(np.stack(vectors)) if fit else None)
            index.apply(list(zip((row[0] for row in batch), vectors, strict=True)))
        self._index = index or CodeIndex(self._threads)

    def _refit_when_grown(self) -> None:
        """A gallery opened small has unfitted axes (one-pass scan); the first time it holds
        FIT_FROM templates the codes are rebuilt once in fitted axes."""
        if not self._index.fitted and self._index.count >= FIT_FROM:
            self._load_index()


# (query, slots) -> [(distance, customer_id, name)] sorted, from the decrypted templates.
ExactDistances = Callable[[np.ndarray, np.ndarray], list[tuple[float, str, str]]]


def encode(vectors: np.ndarray, code_range: float = CODE_RANGE) -> np.ndarray:
    """One byte per component: 256 equal steps over ±code_range (beyond it, clamped)."""
    steps = np.floor((vectors + code_range) / (2 * code_range / 256))
    return np.clip(steps, 0, 255).astype(np.uint8)


def decode(codes: np.ndarray, code_range: float = CODE_RANGE) -> np.ndarray:
    """The centre of each code's step: what the coded distances measure to."""
    step = 2 * code_range / 256
    return ((codes.astype(np.float32) + 0.5) * step - code_range).astype(np.float32)


@dataclass(frozen=True)
class Rotation:
    """The axes the codes are written in: an orthogonal change of axes (distances unchanged)
    that puts the directions in which the templates differ most first, so the first `prefix`
    components carry most of any distance and a scan of them alone bounds it from below."""

    mean: np.ndarray  # (128,) float32, subtracted first
    axes: np.ndarray  # (128, 128) float32, orthonormal rows, most spread first
    code_range: float  # of the first `prefix` components
    prefix: int  # components scanned in the first pass (DIMENSIONS: one pass over all)
    rest_range: float  # of the others: they spread less, so finer steps (a tighter bound)

    @classmethod
    def identity(cls) -> Rotation:
        """The templates' own axes, one pass over every component (small galleries)."""
        eye = np.eye(DIMENSIONS, dtype=np.float32)
        return cls(np.zeros(DIMENSIONS, np.float32), eye, CODE_RANGE, DIMENSIONS, CODE_RANGE)

    @classmethod
    def fit(cls, vectors: np.ndarray) -> Rotation:
        """Principal axes of `vectors`; a prefix pass only if its components carry at least
        PREFIX_ENERGY of the spread (dlib descriptors: 93-96 % in 48; random vectors: 38 %)."""
        sample = vectors.astype(np.float64)
        mean = sample.mean(axis=0)
        centred = sample - mean
        spread, axes = np.linalg.eigh(centred.T @ centred / len(sample))
        order = np.argsort(spread)[::-1]
        spread, axes = np.clip(spread[order], 0, None), axes[:, order].T
        share = float(spread[:PREFIX_DIMS].sum() / max(float(spread.sum()), 1e-30))
        prefix = PREFIX_DIMS if share >= PREFIX_ENERGY else DIMENSIONS
        reach = np.abs(centred @ axes.T).max(axis=0)
        # beyond these a template is clamped (and measured exactly on every search)
        code_range = max(float(reach[:prefix].max()) * RANGE_MARGIN, 1e-3)
        rest = float(reach[prefix:].max()) if prefix < DIMENSIONS else code_range
        rest_range = max(rest * RANGE_MARGIN, 1e-3)
        return cls(mean.astype(np.float32), axes.astype(np.float32), code_range, prefix, rest_range)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """The vectors (n, 128) in the rotated axes."""
        rotated: np.ndarray = (vectors.astype(np.float32) - self.mean) @ self.axes.T
        return rotated.astype(np.float32)


class CodeIndex:
    """8-bit codes of every template (in the rotated axes, slot order) and an exact search.

    The codes are held in two parts that together take 128 bytes per template: the first
    `prefix` components in a faiss index (scanned for every query) and the rest in a numpy
    array (read only for the candidates). With the identity rotation the faiss part is all
    128 components and the search is the plain one-pass scan.
    """

    def __init__(self, threads: int = 1, rotation: Rotation | None = None) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)
        self._faiss = faiss
        self._threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None
        self.rotation = rotation or Rotation.identity()
        self.fitted = rotation is not None
        self._step = 2 * self.rotation.code_range / 256
        self._rest_step = 2 * self.rotation.rest_range / 256
        # The codes are our own (`encode`/`decode`: one step for every component), and faiss
        # compares them as they are ("direct"): the query is moved into code space instead, so
        # the scan does no decoding at all (measured: 18.7 vs 25.7 ms CPU per 1M scan for
        # faiss's own one-range codes, 31 ms for per-component ones).
        self.index = faiss.IndexScalarQuantizer(
            self.rotation.prefix, faiss.ScalarQuantizer.QT_8bit_direct, faiss.METRIC_L2
        )
        self._rest = np.zeros((0, DIMENSIONS - self.rotation.prefix), np.uint8)
        # A template whose code is off by more than rounding can be (a component beyond the
        # code range was clamped) is "loose": measured exactly on every search instead of
        # widening everyone's bound. Rounding alone is at most half a step per component.
        prefix, rest = self.rotation.prefix, DIMENSIONS - self.rotation.prefix
        self.error_cap = (prefix * self._step**2 + rest * self._rest_step**2) ** 0.5 / 2 + SLACK
        self.loose: set[int] = set()
        self.max_error = 0.0  # largest |decode(code) - template| of the others, 128 components
        self.max_prefix_error = 0.0  # the same over the first `prefix` components
        self.widened = 0  # searches that needed a wider candidate list
        self.exhaustive = 0  # searches that computed every prefix distance

    @property
    def count(self) -> int:
        """How many templates are indexed."""
        return int(self.index.ntotal)

    @property
    def bytes_per_template(self) -> int:
        """Memory per template held by the index (both parts of its code)."""
        return int(self.index.code_size) + self._rest.shape[1]

    @property
    def allocated_bytes(self) -> int:
        """Bytes held for the codes: the faiss part's size (its vector's spare capacity is not
        visible from Python) plus the numpy part with its spare rows."""
        return int(self.index.codes.size()) + int(self._rest.nbytes)

    def _prefix_codes(self) -> np.ndarray:
        size = self.count * self.index.code_size
        flat = self._faiss.rev_swig_ptr(self.index.codes.data(), size)
        return np.asarray(flat).reshape(self.count, self.index.code_size)

    def _reserve(self, rows: int) -> None:
        """Room for `rows` rest-codes (grown by half at a time, so appends stay cheap)."""
        if rows <= len(self._rest):
            return
        grown = np.zeros((max(rows, len(self._rest) * 3 // 2), self._rest.shape[1]), np.uint8)
        grown[: self.count] = self._rest[: self.count]
        self._rest = grown

    def apply(self, changes: Sequence[tuple[int, np.ndarray]]) -> None:
        """Write templates at their slots: existing slots are overwritten, the next one appends."""
        if not changes:
            return
        rotated = self.rotation.apply(np.stack([vector for _, vector in changes]))
        prefix, ranges = self.rotation.prefix, (self.rotation.code_range, self.rotation.rest_range)
        parts = (rotated[:, :prefix], rotated[:, prefix:])
        codes = np.hstack([encode(part, limit) for part, limit in zip(parts, ranges, strict=True)])
        decoded = [decode(codes[:, :prefix], ranges[0]), decode(codes[:, prefix:], ranges[1])]
        errors = np.hstack(decoded) - rotated
        full_errors = np.linalg.norm(errors, axis=1)
        tight = full_errors <= self.error_cap
        if tight.any():
            self.max_error = max(self.max_error, float(full_errors[tight].max()))
            prefix_errors = np.linalg.norm(errors[tight, :prefix], axis=1)
            self.max_prefix_error = max(self.max_prefix_error, float(prefix_errors.max()))
        latest = {slot: code for (slot, _), code in zip(changes, codes, strict=True)}
        for (slot, _), is_tight in zip(changes, tight, strict=True):  # the last write wins
            if is_tight:
                self.loose.discard(slot)
            else:
                self.loose.add(slot)
        appended: list[np.ndarray] = []
        for slot in sorted(latest):  # a slot written twice in one batch keeps its last code
            if slot < self.count:
                self._prefix_codes()[slot] = latest[slot][:prefix]
                self._rest[slot] = latest[slot][prefix:]
            elif slot == self.count + len(appended):
                appended.append(latest[slot])
            else:
                raise GalleryError(f"slot {slot} out of order")
        if appended:
            block = np.stack(appended)
            self._reserve(self.count + len(block))
            self._rest[self.count : self.count + len(block)] = block[:, prefix:]
            self.index.add_sa_codes(np.ascontiguousarray(block[:, :prefix]))

    def remove(self, slot: int) -> None:
        """Drop a slot by moving the last code into it (as the database did)."""
        codes = self._prefix_codes()
        last = self.count - 1
        codes[slot] = codes[last]
        codes[last] = 0  # the vector keeps its capacity: leave no copy of the dropped code
        self._rest[slot] = self._rest[last]
        self._rest[last] = 0
        self.loose.discard(slot)
        if last in self.loose:
            self.loose.discard(last)
            self.loose.add(slot)
        self.index.codes.resize(last * self.index.code_size)
        self.index.ntotal = last

    def _scan(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest by coded prefix distance (code units, squared). With several threads
        and a large gallery the slots are split into contiguous ranges scanned at once (faiss
        parallelises over queries, not over the stored codes of one query), then merged."""
        if self._threads == 1 or self.count < SPLIT_FROM:
            distances, slots = self.index.search(query[None], k)
            return distances[0], slots[0]
        if self._pool is None:
            # OpenMP's thread count is per thread: each range is scanned by one thread only
            # (by default faiss would start a team of its own in every pool thread)
            self._pool = ThreadPoolExecutor(
                self._threads,
                thread_name_prefix="gallery-scan",
                initializer=self._faiss.omp_set_num_threads,
                initargs=(1,),
            )
        edges = [self.count * i // self._threads for i in range(self._threads + 1)]
        parts = list(
            self._pool.map(
                lambda i: self._range_search(query, k, *edges[i : i + 2]), range(self._threads)
            )
        )
        distances = np.hstack([part[0][0] for part in parts])
        slots = np.hstack([part[1][0] for part in parts])
        order = np.argsort(distances, kind="stable")[:k]
        return distances[order], slots[order]

    def _range_search(
        self, query: np.ndarray, k: int, first: int, end: int
    ) -> tuple[np.ndarray, np.ndarray]:
        selector = self._faiss.IDSelectorRange(first, end)
        selector.assume_sorted = True
        params = self._faiss.SearchParameters()
        params.sel = selector
        distances, slots = self.index.search(query[None], min(k, end - first), params=params)
        return distances, slots

    def _every_prefix_distance(self, query: np.ndarray) -> np.ndarray:
        """Coded prefix distances of every slot (numpy, in blocks): the exhaustive fallback."""
        codes, out = self._prefix_codes(), np.empty(self.count, np.float32)
        for first in range(0, self.count, 65_536):
            block = codes[first : first + 65_536].astype(np.float32) - query
            out[first : first + 65_536] = np.einsum("ij,ij->i", block, block)
        return out

    def search(self, query: np.ndarray, exact: ExactDistances) -> list[tuple[float, str, str]]:
        """Exact best and second-best (distance, customer id, name), proven by lower bounds.

        With d the true distance of a template, its coded prefix distance minus the largest
        prefix quantization error is at most d (dropping components only shortens a distance;
        the rotation keeps distances), and so is its full coded distance minus the largest
        full error. A scan of the prefixes gives candidates in order; each candidate's full
        coded distance comes from the rest of its code; the candidates whose bound is below
        the exact second-best so far are decrypted and measured. Once the bound of the last
        candidate scanned exceeds the exact second-best, no template left can beat it; if
        it does not, the scan is widened (x4; x16 for the one-pass scan), and beyond
        FALLBACK_FROM candidates every prefix distance is computed (exhaustive, slow, exact).
        """
        rotation = self.rotation
        rotated = rotation.apply(query[None])[0]
        head = (rotated[: rotation.prefix] + rotation.code_range) / self._step - 0.5
        tail = (rotated[rotation.prefix :] + rotation.rest_range) / self._rest_step - 0.5
        prefix_slack = self.max_prefix_error + SLACK
        seen = np.array(sorted(self.loose), np.int64)  # measured exactly, whatever their codes
        ranked = sorted(exact(query, seen))[:2] if len(seen) else []
        first = FIRST_CANDIDATES if rotation.prefix == DIMENSIONS else FIRST_PREFIX_CANDIDATES
        wanted = min(self.count, first)
        while True:
            if wanted > FALLBACK_FROM:
                self.exhaustive += 1
                distances = self._every_prefix_distance(head)
                slots = np.arange(self.count)
            else:
                distances, slots = self._scan(head, wanted)
                distances, slots = distances[slots >= 0], slots[slots >= 0]
            bounds = np.sqrt(np.maximum(distances, 0.0)) * self._step - prefix_slack
            fresh = ~np.isin(slots, seen)
            if len(ranked) >= 2:
                fresh &= bounds <= ranked[1][0]
            seen = np.concatenate([seen, slots[fresh]])
            ranked = self._rerank(query, slots[fresh], distances[fresh], tail, ranked, exact)
            if wanted >= self.count or wanted > FALLBACK_FROM:
                return ranked  # every slot was scanned
            if len(ranked) >= 2 and bounds[-1] > ranked[1][0]:
                return ranked
            self.widened += wanted == first
            # a one-pass rescan reads all 128 bytes again: fewer, wider steps
            wanted = min(self.count, wanted * (16 if rotation.prefix == DIMENSIONS else 4))

    def _rerank(
        self,
        query: np.ndarray,
        slots: np.ndarray,
        prefix_distances: np.ndarray,
        tail: np.ndarray,
        ranked: list[tuple[float, str, str]],
        exact: ExactDistances,
    ) -> list[tuple[float, str, str]]:
        """Measure candidates exactly in order of their full coded bound, until the bound
        exceeds the exact second-best."""
        if len(slots) == 0:
            return ranked
        rest = self._rest[slots].astype(np.float32) - tail
        full = prefix_distances * self._step**2 + np.einsum("ij,ij->i", rest, rest) * (
            self._rest_step**2
        )
        bounds = np.sqrt(np.maximum(full, 0.0)) - (self.max_error + SLACK)
        order = np.argsort(bounds, kind="stable")
        ordered = bounds[order]
        done = 0
        while done < len(order):
            if len(ranked) < 2:  # the few most promising first: they set the second-best
                end = done + RERANK_FIRST
            else:  # then every candidate it does not rule out, in one read
                end = min(int(np.searchsorted(ordered, ranked[1][0], "right")), done + RERANK_MAX)
                if end <= done:
                    break
            ranked = sorted(ranked + exact(query, slots[order[done:end]]))[:2]
            done = end
        return ranked
