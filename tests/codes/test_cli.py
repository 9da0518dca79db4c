"""`smilepay qr decode`, `smilepay qr emv` and `smilepay bench qr` through the real CLI entry."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.cli import main
from device.codes.degrade import place_code, qr_modules
from device.codes.render import render_qr_png

PROMPTPAY = "00020101021129370016A000000677010111011300668012345675802TH530376463046197"


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_qr_decode_prints_one_object_per_image_and_survives_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a QR image, a blank image and a file that is not an image
    (tmp_path / "code.png").write_bytes(render_qr_png("hello kiosk"))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((100, 100), 255, np.uint8))
    (tmp_path / "junk.png").write_bytes(b"no image here")
    paths = [str(tmp_path / n) for n in ("code.png", "junk.png", "blank.png")]
    # WHEN they are decoded in one command
    status = main(["qr", "decode", *paths, "--json"])
    results = json_lines(capsys.readouterr().out)
    # THEN each image has its own object, the bad one an error, and the command fails overall
    assert status == 1
    assert len(results) == 3
    assert results[0]["payload"] == {
        "text": "hello kiosk",
        "hex": b"hello kiosk".hex(),
        "decoder": "zxing",
    }
    assert "not a readable image" in str(results[1]["error"])
    assert results[2]["payload"] is None and results[2]["codes"] == []


def test_qr_decode_reports_raw_bytes_as_hex(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a dark-mode code carrying bytes that are not UTF-8
    payload = b"\x83\x82\x83o\x83C\x83\x8b"  # Shift_JIS
    image = cv2.bitwise_not(place_code(qr_modules(payload), 4.0, np.random.default_rng(1), True))
    cv2.imwrite(str(tmp_path / "dark.png"), image)
    # WHEN decoded
    assert main(["qr", "decode", str(tmp_path / "dark.png"), "--json"]) == 0
    (result,) = json_lines(capsys.readouterr().out)
    # THEN the hex is exactly the symbol's bytes
    assert result["payload"]["hex"] == payload.hex()  # type: ignore[index]
    assert result["payload"]["text"] == "モバイル"  # type: ignore[index]


def test_qr_emv_prints_fields_and_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qr", "emv", PROMPTPAY, "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["profile"] == "promptpay"
    assert parsed["fields"]["29"]["00"] == "A000000677010111"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (PROMPTPAY[:-4] + "0000", "bad CRC"),
        ("\udcff" + PROMPTPAY, "invalid"),  # undecodable byte from the command line
        (PROMPTPAY.replace("5802TH", "5802T\x01"), "control character"),
    ],
)
def test_qr_emv_rejects_with_one_line_and_non_zero_status(
    payload: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["qr", "emv", payload, "--json"])
    captured = capsys.readouterr()
    assert status != 0
    assert captured.out == ""
    assert reason in captured.err and captured.err.count("\n") == 1


def write_dataset(folder: Path) -> None:
    """Two codes with their .txt, one negative image: the ZXing black-box layout."""
    folder.mkdir()
    for n, text in ((1, "first"), (2, "SPT1.second")):
        (folder / f"{n}.png").write_bytes(render_qr_png(text, box_size=4))
        (folder / f"{n}.txt").write_text(text)
    cv2.imwrite(str(folder / "3.png"), np.full((120, 120), 200, np.uint8))


def test_bench_qr_on_a_dataset_ends_with_one_json_line_of_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a small dataset in the ZXing layout
    write_dataset(tmp_path / "set")
    # WHEN benchmarked
    assert main(["bench", "qr", "--json", "--dataset", str(tmp_path / "set")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # THEN the chain and each decoder have counts and times
    assert (result["total"], result["decoded"], result["misread"]) == (3, 2, 0)
    assert result["false_positives"] == 0
    assert result["ms_p50"] <= result["ms_p90"]
    assert set(result["decoders"]) == {
        "zxing",
        "zxing-globalhistogram",
        "pyzbar",
        "pyzbar-inverted",
    }
    assert result["decoders"]["pyzbar-inverted"]["decoded"] == 0


def test_bench_qr_counts_a_wrong_expected_text_as_a_misread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dataset(tmp_path / "set")
    (tmp_path / "set" / "1.txt").write_text("something else")
    assert main(["bench", "qr", "--json", "--dataset", str(tmp_path / "set")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["decoded"], result["misread"]) == (1, 1)


def test_bench_qr_generated_reports_every_category(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "qr", "--json", "--per-category", "1"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["total"] == 12
    assert set(result["categories"]) >= {
        "blur",
        "motion_blur",
        "noise",
        "low_contrast",
        "glare",
        "jpeg",
        "small_modules",
        "inverted",
        "moire",
        "perspective",
        "rotation",
    }


def test_bench_qr_on_a_missing_dataset_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "qr", "--json", "--dataset", str(tmp_path / "none")]) == 2
    assert "is not a directory" in capsys.readouterr().err
