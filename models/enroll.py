"""Enrollment: consent first, then several quality-checked captures averaged into one template."""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from base.errors import SmilepayError
from models.config import FaceConfig
from models.engine import FaceEngine, open_gallery_in, read_image
from models.errors import BadImage
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
    """Split captures into the majority person and the rest.

    The reference is the capture with the most others within `threshold` (ties: the smallest
    total distance); captures within `threshold` of it are the same person.
    """
    names = list(vectors)
    matrix = np.stack([vectors[name] for name in names])
    distances = np.linalg.norm(matrix[:, None, :] - matrix[None, :, :], axis=2)
    neighbours = (distances < threshold).sum(axis=1)
    reference = min(range(len(names)), key=lambda i: (-neighbours[i], distances[i].sum()))
    same = [name for name, d in zip(names, distances[reference], strict=True) if d < threshold]
    return same, [name for name in names if name not in same]


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


def enroll_command(args: Any, face: FaceConfig, key_file: Path) -> int:
    """`smilepay enroll`: prints the new customer id (or JSON with --json)."""
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
