"""The kiosk gallery under fleet sync: a page of changes in one transaction, deletion that leaves
no bytes behind, and the split scan that stays exact."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import models.gallery as gallery_module
from models.gallery import Consent, Gallery, GalleryError


def unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def open_gallery(folder: Path, threads: int = 1) -> Gallery:
    return Gallery.open(folder / "gallery.db", folder / "template.key", threads)


def file_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("gallery.db*")) if p.is_file())


def test_a_page_of_changes_applies_in_one_transaction_or_not_at_all(tmp_path: Path) -> None:
    gallery = open_gallery(tmp_path)
    vectors = unit_vectors(3, 1)
    gallery.apply_changes([("upsert", "a", "A", vectors[0])])
    # WHEN a page holds an upsert, a deletion and a malformed template
    bad_page = [
        ("upsert", "b", "B", vectors[1]),
        ("delete", "a", "ledger", None),
        ("upsert", "c", "C", np.full(128, np.nan, np.float32)),
    ]
    with pytest.raises(GalleryError):
        gallery.apply_changes(bad_page)
    # THEN nothing of it applied, in the file or in the search codes
    assert [c.customer_id for c in gallery.customers()] == ["a"]
    match = gallery.search(vectors[0])
    assert match is not None and match.best_id == "a" and len(gallery) == 1
    # WHEN the good part is applied THEN both effects hold
    assert gallery.apply_changes(bad_page[:2]) == ["a"]
    assert [c.customer_id for c in gallery.customers()] == ["b"] and len(gallery) == 1
    gallery.close()


def test_a_deleted_template_leaves_no_bytes_in_the_database_or_its_wal(tmp_path: Path) -> None:
    gallery = open_gallery(tmp_path)
    consent = Consent("Ada", "2026-12-01T00:00:00+00:00", "k", "face-consent-v1")
    vectors = unit_vectors(50, 2)
    ids = [gallery.enroll(f"n{i}", [v], consent) for i, v in enumerate(vectors)]
    with sqlite3.connect(tmp_path / "gallery.db") as conn:
        [sealed] = conn.execute("SELECT sealed FROM templates WHERE customer_id = ?", (ids[7],))
    assert sealed[0] in file_bytes(tmp_path)
    # WHEN the customer is deleted (the last slot moves into the hole)
    assert gallery.delete(ids[7], "customer asked")
    # THEN neither the sealed bytes nor any 16-byte piece of them remain in any file
    raw = file_bytes(tmp_path)
    assert all(sealed[0][i : i + 16] not in raw for i in range(0, len(sealed[0]) - 16, 16))
    assert gallery.template_or_none(ids[7]) is None
    # AND the others are still found exactly
    for i in (0, 8, 49):
        match = gallery.search(vectors[i])
        assert match is not None and match.best_id == ids[i]
    gallery.close()


def test_the_split_scan_finds_the_same_best_and_second_as_a_float32_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a gallery scanned in two ranges at once (split from 100 templates here)
    monkeypatch.setattr(gallery_module, "SPLIT_FROM", 100)
    gallery = open_gallery(tmp_path, threads=2)
    templates = unit_vectors(3000, 3)
    gallery.upsert_many((f"c{i}", f"n{i}", v, None, None) for i, v in enumerate(templates))
    rng = np.random.default_rng(4)
    queries = np.vstack(
        [templates[rng.integers(0, 3000, 20)] + rng.normal(0, 0.03, (20, 128)), unit_vectors(20, 5)]
    ).astype(np.float32)
    for query in queries:
        # WHEN searched THEN best and second equal an exhaustive float32 scan
        distances = np.linalg.norm(templates - query, axis=1)
        best, second = np.argsort(distances)[:2]
        match = gallery.search(query)
        assert match is not None and match.best_id == f"c{best}"
        assert match.second_distance == pytest.approx(float(distances[second]), abs=1e-4)
    gallery.close()


def test_the_kiosk_follows_the_agents_template_writes_but_not_its_outbox_writes(
    tmp_path: Path,
) -> None:
    from sync.queue.enrolment_outbox import EnrolmentOutbox, record_enrolment

    kiosk, agent = open_gallery(tmp_path), open_gallery(tmp_path)
    vectors = unit_vectors(2, 6)
    kiosk.upsert_many([("a", "A", vectors[0], None, None)])
    assert kiosk.search(vectors[0]) is not None
    codes_before = kiosk._index
    # WHEN the agent's process only touches the outbox (another table, same file)
    with closing(EnrolmentOutbox.open(tmp_path / "gallery.db")) as outbox:
        consent = {"text_version": "v1", "accepted_at": "2026-12-01T00:00:00Z", "kiosk_id": "k"}
        enrolment_id = record_enrolment(outbox._db, "a", "A", consent)
        outbox.sent(enrolment_id)
    # THEN the kiosk keeps its codes (no rebuild: that decrypts every template)
    kiosk.search(vectors[0])
    assert kiosk._index is codes_before
    # WHEN the agent writes a template THEN the kiosk rebuilds and finds it
    agent.apply_changes([("upsert", "b", "B", vectors[1])])
    match = kiosk.search(vectors[1])
    assert match is not None and match.best_id == "b" and kiosk._index is not codes_before
    kiosk.close()
    agent.close()
