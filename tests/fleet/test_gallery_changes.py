"""The kiosk gallery under fleet sync: a page of changes in one transaction, deletion that leaves
no bytes behind, and the searches (split, prefix, widened, exhaustive) that stay exact."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import models.gallery as gallery_module
from models.bench_descriptors import DescriptorModel
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


def dlib_like(count: int, seed: int) -> np.ndarray:
    return DescriptorModel.load().templates(count, np.random.default_rng(seed))


def assert_exact(gallery: Gallery, stored: dict[str, np.ndarray], queries: np.ndarray) -> None:
    ids = list(stored)
    templates = np.stack([stored[i] for i in ids])
    for query in queries:
        distances = np.linalg.norm(templates - query, axis=1)
        best, second = np.argsort(distances)[:2]
        match = gallery.search(query)
        assert match is not None and match.best_id == ids[best]
        assert match.best_distance == pytest.approx(float(distances[best]), abs=1e-5)
        assert match.second_distance == pytest.approx(float(distances[second]), abs=1e-5)


def test_a_page_of_changes_on_a_grown_gallery_keeps_the_prefix_search_exact(
    tmp_path: Path,
) -> None:
    # GIVEN a gallery opened empty that grows past FIT_FROM: its codes are rebuilt once in axes
    # fitted to the templates, and the first pass scans a prefix of them
    gallery = open_gallery(tmp_path)
    model, rng = DescriptorModel.load(), np.random.default_rng(8)
    first = dlib_like(2500, 9)
    gallery.apply_changes([("upsert", f"c{i}", f"n{i}", v) for i, v in enumerate(first)])
    assert gallery._index.fitted and gallery._index.rotation.prefix < 128
    stored = {f"c{i}": v for i, v in enumerate(first)}
    # WHEN one page adds 600, replaces 300 and deletes 400 (slots move into the holes)
    page: list = [("upsert", f"new{i}", "N", v) for i, v in enumerate(dlib_like(600, 10))]
    for i in rng.choice(2500, 300, replace=False):
        page.append(("upsert", f"c{i}", f"n{i}", model.returning(first[i : i + 1], rng)[0]))
    doomed = {f"c{i}" for i in rng.choice(2500, 400, replace=False)}
    page += [("delete", customer, "ledger", None) for customer in sorted(doomed)]
    assert set(gallery.apply_changes(page)) == doomed
    for kind, customer, _, vector in page:
        if kind == "upsert":
            stored[customer] = vector
        else:
            del stored[customer]
    # THEN returning customers and strangers get the float32 best and second, before and
    # after a reopen (which refits the axes on the templates as they now are)
    picked = np.stack(list(stored.values()))[rng.integers(0, len(stored), 40)]
    queries = np.vstack([model.returning(picked, rng), model.strangers(40, rng)])
    assert_exact(gallery, stored, queries)
    gallery.close()
    gallery = open_gallery(tmp_path)
    assert len(gallery) == len(stored)
    assert_exact(gallery, stored, queries)
    gallery.close()


def test_a_template_beyond_the_code_range_is_measured_exactly(tmp_path: Path) -> None:
    # GIVEN a fitted gallery, then a template far outside the fitted code range (its code is
    # clamped, so its coded distance is no bound)
    gallery = open_gallery(tmp_path)
    templates = dlib_like(1500, 11)
    gallery.upsert_many((f"c{i}", "n", v, None, None) for i, v in enumerate(templates))
    rotation = gallery._index.rotation
    odd = templates[0] + np.float32(2 * rotation.code_range) * rotation.axes[0]
    gallery.upsert_many([("odd", "Odd", odd, None, None)])
    assert gallery._index.loose == {1500}
    stored = {f"c{i}": v for i, v in enumerate(templates)} | {"odd": odd}
    # WHEN searched near it THEN it is found with its exact distance
    near = odd + np.float32(0.01)
    assert_exact(gallery, stored, near[None])
    # WHEN another customer is deleted (the odd one, in the last slot, moves into the hole)
    assert gallery.delete("c7", "customer asked")
    del stored["c7"]
    assert gallery._index.loose == {7}
    # THEN it is still found exactly, and so is everyone else
    queries = np.vstack([near[None], templates[100:110] + np.float32(0.02)])
    assert_exact(gallery, stored, queries)
    gallery.close()


@pytest.mark.parametrize("fallback_from", [64, 4])
def test_the_widened_scan_and_the_exhaustive_fallback_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallback_from: int
) -> None:
    # GIVEN a prefix scan that asks for 4 candidates at first, then 64 (fallback_from 64) or
    # every prefix distance (fallback_from 4) when those do not settle the answer
    monkeypatch.setattr(gallery_module, "FIRST_PREFIX_CANDIDATES", 4)
    monkeypatch.setattr(gallery_module, "FALLBACK_FROM", fallback_from)
    gallery = open_gallery(tmp_path)
    templates = dlib_like(3000, 12)
    gallery.upsert_many((f"c{i}", "n", v, None, None) for i, v in enumerate(templates))
    model, rng = DescriptorModel.load(), np.random.default_rng(13)
    # WHEN searched THEN every answer is still the float32 best and second
    queries = np.vstack(
        [model.returning(templates[rng.integers(0, 3000, 20)], rng), model.strangers(20, rng)]
    )
    assert_exact(gallery, {f"c{i}": v for i, v in enumerate(templates)}, queries)
    assert gallery._index.widened > 0  # the path under test ran
    assert (gallery._index.exhaustive > 0) == (fallback_from == 4)
    gallery.close()
