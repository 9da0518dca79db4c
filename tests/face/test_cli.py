"""The `enroll`, `face replay`, `face demo-frames` commands and the face/match benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.cli import main

REPLAY_KEYS = {
    "face_found",
    "smile_transition",
    "live",
    "live_reasons",
    "match",
    "score",
    "margin",
    "decision",
}


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir()
    for number, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{number:03d}.png"), frame)
    return folder


def test_enroll_then_replay_pays_for_the_demo_and_refuses_a_photo(
    tmp_path: Path, demo_frames: list, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.demo_faces import repeated_photo

    demo = write_frames(tmp_path / "demo", demo_frames)
    photo = write_frames(tmp_path / "photo", repeated_photo(model_dir, 12))
    data = tmp_path / "kiosk"
    # GIVEN the astronaut enrolled from two consented captures (neutral and smiling)
    args = ["enroll", "--data-dir", str(data), "--name", "Astronaut", "--consent"]
    assert main([*args, str(demo / "000.png"), str(demo / "015.png"), "--json"]) == 0
    enrolled = last_json(capsys.readouterr().out)
    assert len(enrolled["accepted"]) == 2 and enrolled["rejected"] == []
    # WHEN the demo recording is replayed THEN it pays that customer
    assert main(["face", "replay", str(demo), "--data-dir", str(data), "--json"]) == 0
    paid = last_json(capsys.readouterr().out)
    assert set(paid) >= REPLAY_KEYS
    assert paid["decision"] == "pay" and paid["match"] == "Astronaut"
    assert paid["customer_id"] == enrolled["customer_id"]
    # WHEN one photo repeated is replayed THEN it is not live
    assert main(["face", "replay", str(photo), "--data-dir", str(data), "--json"]) == 0
    refused = last_json(capsys.readouterr().out)
    assert refused["decision"] == "not_live" and refused["live"] is False


def test_enroll_rejects_captures_without_a_usable_face_with_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN only a faceless frame and a corrupt file WHEN enrolling THEN exit 2 with each reason
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 120, np.uint8))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    code = main(
        [
            "enroll",
            "--data-dir",
            str(tmp_path / "k"),
            "--name",
            "X",
            "--consent",
            str(blank),
            str(corrupt),
        ]
    )
    error = capsys.readouterr().err
    assert code == 2
    assert "blank.png: no_face" in error and "corrupt.png: not a readable image" in error


def test_replay_of_a_missing_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["face", "replay", str(tmp_path / "nope"), "--data-dir", str(tmp_path)])
    assert code == 2 and "not a folder of frames" in capsys.readouterr().err


def test_replay_refuses_a_negative_amount_and_a_zero_frame_rate(
    tmp_path: Path, demo_frames: list, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = write_frames(tmp_path / "f", demo_frames[:2])
    base = ["face", "replay", str(frames), "--data-dir", str(tmp_path / "k")]
    assert main([*base, "--amount-minor", "-1"]) == 2
    assert "must not be negative" in capsys.readouterr().err
    assert main([*base, "--fps", "0"]) == 2
    assert "frame rate must be positive" in capsys.readouterr().err


def test_bench_match_reports_exact_answers_and_128_bytes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a small gallery WHEN benchmarked THEN every query equals exact float32
    assert main(["bench", "match", "--json", "--sizes", "3000", "--queries", "30"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["every_query_same_as_exact"] is True
    assert result["bytes_per_template"] == 128
    assert result["search_ms_p50_3k"] > 0


def test_bench_face_on_a_csv_manifest(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a manifest of two Yale subjects, happy and normal
    yale = shared_data / "faces/yale"
    rows = ["path,identity,smiling"] + [
        f"{yale / f'subject0{s}.{c}.jpeg'},s{s},{int(c == 'happy')}"
        for s in (1, 2)
        for c in ("happy", "normal")
    ]
    manifest = tmp_path / "set.csv"
    manifest.write_text("\n".join(rows) + "\n")
    # WHEN benchmarked THEN the JSON has every figure and the smiles are right
    assert main(["bench", "face", "--dataset", str(manifest), "--json"]) == 0
    result = last_json(capsys.readouterr().out)
    for key in (
        "pairs_genuine",
        "pairs_impostor",
        "eer",
        "fnmr_at_fmr_1e-3",
        "smile_accuracy",
        "detect_ms_p50",
        "landmarks_ms_p50",
        "embed_ms_p50",
        "pipeline_ms_p50",
        "frame_ms_p50",
        "frame_640x480_ms_p50",
        "decision_640x480_ms_p50",
        "rss_mb",
        "backend",
    ):
        assert key in result, key
    # both times were measured (how long they take is the bench's business, not a test's)
    assert result["frame_640x480_ms_p50"] > 0 and result["decision_640x480_ms_p50"] > 0
    assert result["pairs_genuine"] == 2 and result["pairs_impostor"] == 4
    assert result["smile_accuracy"] == 1.0 and result["backend"] == "litert"


def test_bench_face_refuses_a_manifest_with_a_bad_smiling_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text("path,identity,smiling\na.jpg,x,maybe\n")
    assert main(["bench", "face", "--dataset", str(manifest), "--json"]) == 2
    assert "bad.csv:2: smiling must be 1, 0 or empty" in capsys.readouterr().err
