"""`bench face`, `bench identify` and `bench liveness` on tiny manifests: keys and sane values."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from base.errors import SmilepayError
from models.bench import Labelled, bench_face, csv_dataset
from models.bench_identify import (
    bench_identify,
    split_identities,
    stranger_paths,
    upper_bound_95,
)
from models.bench_liveness import bench_liveness, liveness_dataset
from models.config import FaceConfig
from models.engine import FaceEngine

ROOT = Path(__file__).resolve().parents[2]


def celeba_rows(shared_data: Path, people: int, photos: int) -> list[dict[str, str]]:
    manifest = shared_data / "faces/celeba-dev/manifest.csv"
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    chosen: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        group = chosen.setdefault(row["identity"], [])
        if len(group) < photos:
            group.append(row | {"path": str(manifest.parent / row["path"])})
    return [row for group in list(chosen.values())[:people] for row in group]


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_bench_face_without_genuine_pairs_reports_no_eer(
    engine: FaceEngine, shared_data: Path, tmp_path: Path
) -> None:
    # GIVEN six GENKI crops, one identity each, all labelled smiling or not
    genki = shared_data / "faces/genki-dev/manifest.csv"
    with genki.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:6]
    rows = [r | {"path": str(genki.parent / r["path"])} for r in rows]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    # WHEN benchmarked
    result = bench_face(engine, csv_dataset(manifest), "litert")
    # THEN no EER, smiles scored over all six photos, misses counted
    assert result["eer"] is None and "no genuine pairs" in result["eer_note"]
    assert result["smile_photos"] == 6
    assert result["faces_found"] + result["no_face"] == 6
    assert 0.0 <= result["smile_accuracy"] <= 1.0


def test_split_enrols_three_photos_of_the_first_half_and_probes_the_rest() -> None:
    # GIVEN four identities of four photos, listed out of order
    dataset: list[Labelled] = [
        (Path(f"{who}{n}.jpg"), who, None) for who in "dcba" for n in range(4)
    ]
    enrolment, genuine, strangers = split_identities(dataset)
    # THEN a and b are enrolled with their first three photos, probed with the fourth
    assert {k: [p.name for p in v] for k, v in enrolment.items()} == {
        "a": ["a0.jpg", "a1.jpg", "a2.jpg"],
        "b": ["b0.jpg", "b1.jpg", "b2.jpg"],
    }
    assert [(who, p.name) for who, p in genuine] == [("a", "a3.jpg"), ("b", "b3.jpg")]
    assert sorted(p.name for p in strangers) == sorted(
        f"{w}{n}.jpg" for w in "cd" for n in range(4)
    )


def test_bench_identify_reports_its_keys_with_sane_values(
    engine: FaceEngine, shared_data: Path, tmp_path: Path
) -> None:
    # GIVEN four in-the-wild people with five photos each
    manifest = write_manifest(tmp_path / "m.csv", celeba_rows(shared_data, 4, 5))
    # WHEN the open-set benchmark runs with the kiosk's policy
    result = bench_identify(engine, csv_dataset(manifest), FaceConfig(), [])
    # THEN two are enrolled, 2 x 2 genuine and 2 x 5 stranger probes, rates within [0, 1]
    assert result["enrolled"] == 2 and result["gallery_size"] == 2
    assert (result["probes_genuine"], result["probes_stranger"]) == (4, 10)
    for key in ("stranger_pay", "stranger_step_up", "wrong_pay", "fnir"):
        assert 0.0 <= result[key] <= 1.0, key
    assert result["wrong_pay"] == 0.0
    assert result["pay_threshold"] <= result["step_up_threshold"]


def test_extra_strangers_probe_as_strangers_and_bound_the_pay_rate(
    engine: FaceEngine, shared_data: Path, tmp_path: Path
) -> None:
    # GIVEN four in-the-wild people and, as extra strangers, three NUAA frames (path,subject,attack)
    manifest = write_manifest(tmp_path / "m.csv", celeba_rows(shared_data, 4, 5))
    nuaa = shared_data / "faces/nuaa-dev/manifest.csv"
    extra = stranger_paths(nuaa)[::300]
    # WHEN the open-set benchmark runs with them
    result = bench_identify(engine, csv_dataset(manifest), FaceConfig(), [], extra)
    # THEN they are probed as strangers on top of the manifest's own, and the bound is reported
    assert result["probes_stranger"] == 10 + len(extra) and result["probes_stranger_extra"] == 3
    with_face = result["probes_stranger"] - result["stranger_no_face"]
    paid = round(result["stranger_pay"] * result["probes_stranger"])
    assert result["stranger_pay_upper_95"] == upper_bound_95(paid, with_face)
    # AND the same over the probes that pass the quality gates, a subset of those with a face
    assert 0 <= result["probes_stranger_usable"] <= with_face
    assert 0 <= result["probes_genuine_usable"] <= result["probes_genuine"]
    assert result["wrong_pay_usable"] in (0.0, None)


def test_the_stranger_pay_bound_is_clopper_pearson() -> None:
    # 0 of n: 1 - 0.05^(1/n), about 3/n (the rule of three); 5 of 100: 10.2 %
    assert upper_bound_95(0, 3000) == pytest.approx(1 - 0.05 ** (1 / 3000), rel=1e-4)
    bound = upper_bound_95(0, 3000)
    assert bound is not None and bound < 3 / 3000
    assert upper_bound_95(5, 100) == pytest.approx(0.1023, abs=2e-4)
    assert upper_bound_95(0, 0) is None and upper_bound_95(4, 4) == 1.0


def test_a_stranger_manifest_without_a_path_column_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,subject\nx.jpg,1\n")
    with pytest.raises(SmilepayError, match="path column"):
        stranger_paths(manifest)


def test_bench_liveness_reports_apcer_and_bpcer(
    engine: FaceEngine, shared_data: Path, tmp_path: Path
) -> None:
    # GIVEN a few NUAA frames of live people and of printed photos
    nuaa = shared_data / "faces/nuaa-dev/manifest.csv"
    with nuaa.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    picked = [r for r in rows if r["attack"] == "1"][::60] + [
        r for r in rows if r["attack"] == "0"
    ][::60]
    manifest = write_manifest(
        tmp_path / "m.csv", [r | {"path": str(nuaa.parent / r["path"])} for r in picked]
    )
    # WHEN benchmarked
    result = bench_liveness(engine, liveness_dataset(manifest))
    # THEN the counts add up and both error rates are proportions
    assert result["attacks"] + result["bona_fide"] + result["no_face"] == len(picked)
    assert 0.0 <= result["apcer"] <= 1.0 and 0.0 <= result["bpcer"] <= 1.0
    assert result["ms_p50"] > 0


def test_bench_liveness_cli_rejects_a_manifest_without_its_columns(tmp_path: Path) -> None:
    # GIVEN a manifest with the identity columns instead of subject,attack
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,identity,smiling\nx.jpg,a,1\n")
    # WHEN the CLI runs THEN it fails saying what the header needs
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "device.cli", "bench", "liveness", "--dataset", str(manifest)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode != 0
    assert "path,subject,attack" in run.stderr


@pytest.mark.parametrize("command", ["identify", "liveness"])
def test_the_new_benches_are_listed(command: str) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "device.cli", "bench", command, "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode == 0 and "--dataset" in run.stdout
