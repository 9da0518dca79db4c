"""Enrollment: consent first, then several quality-checked captures averaged into one template."""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from device.errors import SmilepayError
from models.engine import BadImage, FaceEngine, face_settings, open_gallery_in, read_image
from models.gallery import Consent, Gallery, now_iso, step_up_secret

CONSENT_TEXT_VERSION = "face-consent-v1"


class EnrollmentRejected(SmilepayError):
    """No capture was good enough; the message lists each capture's reason."""


@dataclass(frozen=True)
class Enrollment:
    """The new customer id and what happened to each capture."""

    customer_id: str
    accepted: list[str]
    rejected: list[tuple[str, str]] = field(default_factory=list)


def consent_now(
    subject: str, kiosk_id: str | None = None, text_version: str | None = None
) -> Consent:
    """A consent record for `subject` accepted now on this kiosk."""
    return Consent(
        subject=subject,
        accepted_at=now_iso(),
        kiosk_id=kiosk_id or socket.gethostname(),
        text_version=text_version or CONSENT_TEXT_VERSION,
    )


def capture_embedding(engine: FaceEngine, image_bgr: np.ndarray) -> np.ndarray:
    """The descriptor of a capture that passes every quality gate, else BadImage with the reason."""
    observation = engine.analyse(image_bgr)
    if not observation.usable:
        raise BadImage(observation.guidance)
    return engine.embed(image_bgr, observation)


def consistent(vectors: dict[str, np.ndarray], threshold: float) -> tuple[list[str], list[str]]:
    """Split captures into those agreeing with the group's mean and those of someone else."""
    mean = np.mean(list(vectors.values()), axis=0)
    same = [name for name, v in vectors.items() if np.linalg.norm(v - mean) < threshold / 2]
    return same, [name for name in vectors if name not in same]


def enroll_images(
    engine: FaceEngine,
    gallery: Gallery,
    name: str,
    images: list[Path],
    consent: Consent,
    threshold: float = 0.6,
) -> Enrollment:
    """Gate every image, drop captures of another person, keep the mean of the rest."""
    vectors: dict[str, np.ndarray] = {}
    rejected: list[tuple[str, str]] = []
    for path in images:
        try:
            vectors[str(path)] = capture_embedding(engine, read_image(path))
        except BadImage as exc:
            rejected.append((str(path), str(exc).removeprefix(f"{path}: ")))
    accepted, outliers = consistent(vectors, threshold) if vectors else ([], [])
    rejected += [(path, "different_person") for path in outliers]
    if not accepted:
        reasons = "; ".join(f"{path}: {reason}" for path, reason in rejected)
        raise EnrollmentRejected(f"no usable face capture ({reasons})")
    customer_id = gallery.enroll(name, [vectors[path] for path in accepted], consent)
    return Enrollment(customer_id, accepted, rejected)


def enroll_command(args: Any) -> int:
    """`smilepay enroll`: prints the new customer id (or JSON with --json)."""
    face, key_file = face_settings(args.config, args.model_dir)
    engine = FaceEngine.load(face)
    gallery = open_gallery_in(args.data_dir, key_file)
    try:
        consent = consent_now(args.name, args.kiosk_id, args.consent_text_version)
        result = enroll_images(
            engine, gallery, args.name, args.consent, consent, face.match_threshold
        )
        if args.step_up:
            salt, digest = step_up_secret(args.step_up)
            gallery.upsert(
                result.customer_id, args.name, gallery.template(result.customer_id), salt, digest
            )
    finally:
        gallery.close()
    for path, reason in result.rejected:
        print(f"rejected {path}: {reason}", file=sys.stderr)
    if getattr(args, "json", False):
        print(
            json.dumps(
                {
                    "customer_id": result.customer_id,
                    "accepted": result.accepted,
                    "rejected": [list(item) for item in result.rejected],
                }
            )
        )
    else:
        print(result.customer_id)
    return 0
