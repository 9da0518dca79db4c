"""Encrypted gallery: consent, deletion, tamper detection, step-up, exact 1:N search."""

from __future__ import annotations

import csv
import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from models.bench import exact_top2, random_templates
from models.bench_descriptors import DescriptorModel
from models.bench_identify import descriptor
from models.engine import FaceEngine
from models.gallery import Gallery, GalleryError, TemplateTampered, step_up_secret
from tests.face.conftest import consent


def unit(seed: int) -> np.ndarray:
    return random_templates(1, np.random.default_rng(seed))[0]


def test_key_file_is_created_private_and_32_bytes(tmp_path: Path) -> None:
    # GIVEN no key file WHEN the gallery opens THEN a 0600 32-byte key is created
    Gallery.open(tmp_path / "gallery.db", tmp_path / "keys" / "k").close()
    key = tmp_path / "keys" / "k"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32


def test_a_readable_key_file_is_refused(tmp_path: Path) -> None:
    # GIVEN a key file others can read WHEN the gallery opens THEN it refuses, naming the file
    key = tmp_path / "k"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    with pytest.raises(GalleryError, match="chmod 600"):
        Gallery.open(tmp_path / "gallery.db", key)


def test_enroll_keeps_consent_and_finds_the_customer(gallery: Gallery) -> None:
    # GIVEN two captures of one face WHEN enrolled THEN the consent is kept and search finds them
    face = unit(1)
    customer_id = gallery.enroll("Ada", [face + 0.01, face - 0.01], consent("Ada"))
    gallery.enroll("Bob", [unit(2)], consent("Bob"))
    match = gallery.search(face)
    assert match is not None and match.best_id == customer_id and match.best_name == "Ada"
    assert match.best_distance < 1e-5 and match.second_distance is not None
    [record] = gallery.consents(customer_id)
    assert (record.subject, record.kiosk_id, record.text_version) == (
        "Ada",
        "kiosk-test",
        "face-consent-v1",
    )


def test_delete_removes_the_template_and_records_why(gallery: Gallery) -> None:
    # GIVEN three customers WHEN one is deleted THEN search never returns them and it is recorded
    ids = [gallery.enroll(name, [unit(i)], consent(name)) for i, name in enumerate("ABC")]
    assert gallery.delete(ids[0], "customer asked") is True
    match = gallery.search(unit(0))
    assert match is not None and match.best_id != ids[0]
    assert {c.customer_id for c in gallery.customers()} == {ids[1], ids[2]}
    assert gallery.deletions(ids[0])[0][1] == "customer asked"
    with pytest.raises(GalleryError):
        gallery.template(ids[0])
    assert gallery.delete(ids[0], "again") is False  # idempotent, still recorded
    assert len(gallery.deletions(ids[0])) == 2


def test_a_tampered_template_fails_decryption_loudly(tmp_path: Path) -> None:
    # GIVEN a stored template whose bytes were altered on disk
    gallery = Gallery.open(tmp_path / "g.db", tmp_path / "k")
    customer_id = gallery.enroll("Ada", [unit(1)], consent())
    gallery.close()
    db = sqlite3.connect(tmp_path / "g.db")
    sealed = bytearray(db.execute("SELECT sealed FROM templates").fetchone()[0])
    sealed[5] ^= 0x01
    db.execute("UPDATE templates SET sealed = ?", (bytes(sealed),))
    db.commit()
    db.close()
    # WHEN the gallery opens THEN it refuses, naming the customer
    with pytest.raises(TemplateTampered, match=customer_id):
        Gallery.open(tmp_path / "g.db", tmp_path / "k")


def test_templates_swapped_between_customers_fail_decryption(tmp_path: Path) -> None:
    # GIVEN Ada's sealed template copied onto Bob's row (same key, valid ciphertext)
    gallery = Gallery.open(tmp_path / "g.db", tmp_path / "k")
    ada = gallery.enroll("Ada", [unit(1)], consent())
    gallery.enroll("Bob", [unit(2)], consent())
    gallery.close()
    db = sqlite3.connect(tmp_path / "g.db")
    nonce, sealed = db.execute(
        "SELECT nonce, sealed FROM templates WHERE customer_id = ?", (ada,)
    ).fetchone()
    db.execute("UPDATE templates SET nonce = ?, sealed = ? WHERE name = 'Bob'", (nonce, sealed))
    db.commit()
    db.close()
    # WHEN opened THEN decryption fails loudly (id and name are authenticated)
    with pytest.raises(TemplateTampered):
        Gallery.open(tmp_path / "g.db", tmp_path / "k")


def test_step_up_digits_are_checked_against_the_stored_hash(gallery: Gallery) -> None:
    # GIVEN a customer upserted with a step-up secret (as the sync agent does)
    salt, digest = step_up_secret("4711")
    gallery.upsert("cust-1", "Ada", unit(1), salt, digest)
    # THEN the right digits pass, wrong ones and unknown customers fail
    assert gallery.check_step_up("cust-1", "4711")
    assert not gallery.check_step_up("cust-1", "4712")
    assert not gallery.check_step_up("nobody", "4711")


def test_bad_templates_are_refused_and_nothing_is_lost(gallery: Gallery) -> None:
    # GIVEN one stored customer WHEN a batch with a bad vector is upserted THEN none of it lands
    gallery.upsert("ok", "Ok", unit(1))
    with pytest.raises(GalleryError, match="128 finite"):
        gallery.upsert_many([("a", "A", unit(2), None, None), ("b", "B", np.zeros(5), None, None)])
    with pytest.raises(GalleryError):
        gallery.upsert("c", "C", np.full(128, np.nan))
    assert [c.customer_id for c in gallery.customers()] == ["ok"]
    assert len(gallery) == 1


def test_search_equals_exact_float32_on_every_query(tmp_path: Path) -> None:
    # GIVEN 10,000 templates, some deleted, some replaced, then the gallery reopened
    rng = np.random.default_rng(11)
    templates = random_templates(10_000, rng)
    gallery = Gallery.open(tmp_path / "g.db", tmp_path / "k")
    gallery.upsert_many((f"c{i}", f"n{i}", v, None, None) for i, v in enumerate(templates))
    alive = dict(enumerate(templates))
    for i in rng.choice(10_000, 60, replace=False):
        gallery.delete(f"c{i}", "test")
        del alive[int(i)]
    for i in list(alive)[:40]:
        alive[i] = random_templates(1, rng)[0]
        gallery.upsert(f"c{i}", f"n{i}", alive[i])
    gallery.close()
    gallery = Gallery.open(tmp_path / "g.db", tmp_path / "k")
    ids = np.array(list(alive))
    stored = np.stack([alive[i] for i in ids])
    # WHEN queried near stored faces, at random, and exactly between two templates
    near = stored[rng.integers(0, len(ids), 100)] + rng.normal(0, 0.02, (100, 128))
    between = (stored[:50] + stored[50:100]) / 2
    queries = np.vstack([near, random_templates(100, rng), between]).astype(np.float32)
    for query in queries:
        match = gallery.search(query)
        best, best_distance, second_distance = exact_top2(stored, query)
        # THEN best and second-best are the exact float32 answers
        assert match is not None and match.second_distance is not None
        assert abs(match.best_distance - best_distance) < 1e-5
        assert abs(match.second_distance - second_distance) < 1e-5
        if second_distance - best_distance > 1e-5:
            assert match.best_id == f"c{ids[best]}"
    gallery.close()


def test_a_customer_written_twice_in_one_batch_keeps_the_last_template(gallery: Gallery) -> None:
    # GIVEN a ledger batch that inserts then updates the same new customer
    gallery.upsert_many([("c1", "Ada", unit(1), None, None), ("c1", "Ada", unit(2), None, None)])
    # THEN one template, the last one, is searched
    assert len(gallery) == 1
    match = gallery.search(unit(2))
    assert match is not None and match.best_id == "c1" and match.best_distance < 1e-5


def test_changes_made_by_another_process_are_seen_by_search(tmp_path: Path) -> None:
    # GIVEN the kiosk's gallery open, and a second connection (the sync agent) on the same file
    kiosk = Gallery.open(tmp_path / "g.db", tmp_path / "k")
    kiosk.upsert("a", "Ada", unit(1))
    agent = Gallery.open(tmp_path / "g.db", tmp_path / "k")
    # WHEN the agent adds one customer and deletes another
    agent.upsert("b", "Bob", unit(2))
    agent.delete("a", "deleted at the ledger")
    # THEN the kiosk's search sees both changes
    match = kiosk.search(unit(2))
    assert match is not None and match.best_id == "b" and len(kiosk) == 1
    kiosk.upsert("c", "Cy", unit(3))
    assert {c.customer_id for c in agent.customers()} == {"b", "c"}
    found = agent.search(unit(3))
    assert found is not None and found.best_id == "c"
    kiosk.close()
    agent.close()


def test_memory_per_template_is_128_bytes(gallery: Gallery) -> None:
    # GIVEN the gallery's index THEN each template costs 128 bytes of memory
    assert gallery.memory_bytes_per_template == 128


def test_search_on_real_descriptors_equals_exact_float32(
    tmp_path: Path, shared_data: Path, engine: FaceEngine
) -> None:
    # GIVEN real dlib descriptors of 40 celeba-dev people: 30 enrolled as the mean of their
    # first 3 photos, their other photos kept as returning-customer queries; 10 strangers
    grouped: dict[str, list[np.ndarray]] = {}
    with (shared_data / "faces/celeba-dev/manifest.csv").open() as handle:
        for row in csv.DictReader(handle):
            if len(grouped) == 40 and row["identity"] not in grouped:
                break
            vector = descriptor(engine, shared_data / "faces/celeba-dev" / row["path"])
            if vector is not None:
                grouped.setdefault(row["identity"], []).append(vector)
    people = [vectors for vectors in list(grouped.values())[:30] if len(vectors) >= 4]
    real_strangers = [v for vectors in list(grouped.values())[30:] for v in vectors]
    real = np.stack([np.mean(vectors[:3], axis=0) for vectors in people])
    returning = np.stack([v for vectors in people for v in vectors[3:]])
    # AND 3,000 synthetic dlib-like templates around them (so the search runs in fitted axes)
    rng = np.random.default_rng(12)
    model = DescriptorModel.load()
    templates = np.vstack([real, model.templates(3000, rng)]).astype(np.float32)
    gallery = Gallery.open(tmp_path / "g.db", tmp_path / "k")
    gallery.upsert_many((f"c{i}", f"n{i}", v, None, None) for i, v in enumerate(templates))
    assert gallery._index.rotation.prefix < 128  # the prefix scan is what is tested
    # WHEN queried with the real photos, real strangers' photos and synthetic strangers
    queries = np.vstack([returning, *real_strangers, model.strangers(50, rng)]).astype(np.float32)
    for query in queries:
        match = gallery.search(query)
        best, best_distance, second_distance = exact_top2(templates, query)
        # THEN best and second-best are the exact float32 answers
        assert match is not None and match.second_distance is not None
        assert match.best_id == f"c{best}"
        assert abs(match.best_distance - best_distance) < 1e-5
        assert abs(match.second_distance - second_distance) < 1e-5
    # AND each returning customer's photo finds them (the data is what it claims to be)
    owners = np.repeat(np.arange(len(people)), [len(v) - 3 for v in people])
    found = [gallery.search(q) for q in returning]
    hits = sum(m is not None and m.best_id == f"c{o}" for m, o in zip(found, owners, strict=True))
    assert hits >= 0.9 * len(returning)
    gallery.close()
