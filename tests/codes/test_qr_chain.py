"""The QR decoder chain on real photos (ZXing black-box set) and on generated degraded frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from device.codes.bench import Sample, load_dataset, matches
from device.codes.degrade import DEGRADATIONS, generate_frames, place_code, qr_modules
from device.codes.qr import CHAIN, DECODERS, decode_frame, to_grey

POSITIVE_SETS = ("qrcode-1", "qrcode-2", "qrcode-3")


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[Sample]:
    return [s for name in POSITIVE_SETS for s in load_dataset(shared_data / "qr" / name)]


def reads(found: list[bytes], sample: Sample) -> bool:
    assert sample.expected is not None
    return any(matches(data, sample.expected) for data in found)


def test_chain_reads_at_least_as_many_photos_as_the_best_single_decoder(
    photos: list[Sample],
) -> None:
    # GIVEN the real phone photos with their expected texts
    # WHEN the chain and each decoder alone read them all
    chain = sum(reads([c.data for c in decode_frame(s.image)], s) for s in photos)
    alone = {name: sum(reads(DECODERS[name](s.image), s) for s in photos) for name in CHAIN}
    # THEN the chain reads no fewer than any one decoder, and most of the set
    assert chain >= max(alone.values()), (chain, alone)
    assert chain >= 0.9 * len(photos)


def test_chain_never_misreads_a_photo(photos: list[Sample]) -> None:
    wrong = [
        s.name
        for s in photos
        if (found := [c.data for c in decode_frame(s.image)]) and not reads(found, s)
    ]
    assert wrong == []


def test_chain_reports_nothing_on_photos_without_a_qr_code(shared_data: Path) -> None:
    # GIVEN photos that hold no QR code (falsepositives-2)
    samples = list(load_dataset(shared_data / "qr" / "falsepositives-2"))
    assert len(samples) >= 20
    # WHEN the chain runs on each with no time budget limit
    reported = {s.name: decode_frame(s.image, budget_s=10.0) for s in samples}
    # THEN not one code is reported
    assert {name: codes for name, codes in reported.items() if codes} == {}


def test_raw_shift_jis_bytes_are_returned_not_a_re_encoded_string(shared_data: Path) -> None:
    # GIVEN a photo whose code carries Shift_JIS kanji/katakana
    image: np.ndarray | None = cv2.imread(str(shared_data / "qr" / "qrcode-2" / "10.png"))
    assert image is not None
    expected_text = (shared_data / "qr" / "qrcode-2" / "10.txt").read_bytes().decode("utf-8")
    raw = expected_text.encode("shift_jis")
    # WHEN zxing-cpp and zbar each read it
    # THEN both hand back the symbol's own Shift_JIS bytes
    assert DECODERS["zxing"](to_grey(image)) == [raw]
    assert DECODERS["pyzbar"](to_grey(image)) == [raw]
    code = decode_frame(image)[0]
    assert code.data == raw and code.text == expected_text


def test_dark_mode_code_needs_the_inverted_zbar_pass() -> None:
    # GIVEN a light-on-dark code
    payload = b"SPT1.dark-mode-code"
    rng = np.random.default_rng(3)
    image = cv2.bitwise_not(place_code(qr_modules(payload), 4.0, rng, centred=True))
    # WHEN zbar reads it plain and inverted
    # THEN only the inverted pass reads it; the chain reads it too
    assert DECODERS["pyzbar"](image) == []
    assert DECODERS["pyzbar-inverted"](image) == [payload]
    assert [c.data for c in decode_frame(image)] == [payload]


def test_spent_budget_stops_the_chain_after_the_first_decoder(shared_data: Path) -> None:
    # GIVEN a photo that only zbar reads (zxing-cpp finds nothing in it)
    image: np.ndarray | None = cv2.imread(
        str(shared_data / "qr" / "qrcode-2" / "28.png"), cv2.IMREAD_GRAYSCALE
    )
    assert image is not None
    assert DECODERS["zxing"](image) == []
    # WHEN the budget is zero THEN no later decoder runs and nothing is reported
    assert decode_frame(image, budget_s=0.0) == []
    # AND with a budget the chain falls through to zbar and names it
    assert [c.decoder for c in decode_frame(image, budget_s=10.0)] == ["pyzbar"]


def test_decode_frame_rejects_an_image_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="uint8"):
        decode_frame(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="shape"):
        decode_frame(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        decode_frame(np.zeros((0, 0), np.uint8))


MILD = (0.0, 0.25)
FRAMES_PER_KIND = 6
# Mild blur and motion blur on 3-px modules are still hard; the rest must nearly all read.
MINIMUM_READS = {"blur": 3, "motion_blur": 2}


@pytest.mark.parametrize("category", list(DEGRADATIONS))
def test_generated_codes_are_read_through_each_degradation(category: str) -> None:
    # GIVEN mildly degraded frames of one kind
    frames = list(generate_frames(category, FRAMES_PER_KIND, seed=11, severity=MILD))
    # WHEN the chain decodes each
    results = [[c.data for c in decode_frame(f.image, budget_s=10.0)] for f in frames]
    # THEN it reads the expected payload in (nearly) all and never reports a wrong one
    read = sum(f.expected in found for f, found in zip(frames, results, strict=True))
    wrong = [found for f, found in zip(frames, results, strict=True) if set(found) - {f.expected}]
    assert wrong == []
    assert read >= MINIMUM_READS.get(category, FRAMES_PER_KIND - 1), read
