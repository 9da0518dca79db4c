"""Enrollment: consent first, then several quality-checked captures averaged into one template."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
from collections.abc import Callable
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


# (connection, customer id, name, consent fields, step-up (salt, hash) or None)
OutboxWriter = Callable[[sqlite3.Connection, str, str, dict[str, str], tuple[str, str] | None], Any]


def _outbox_hook(
    outbox: OutboxWriter, name: str, consent: Consent, step_up: tuple[str, str] | None
) -> EnrolHook:
    fields = {
        "text_version": consent.text_version,
        "accepted_at": consent.accepted_at,
        "kiosk_id": consent.kiosk_id,
    }
    return lambda conn, customer_id: outbox(conn, customer_id, name, fields, step_up)


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


# Called inside the template's transaction with (connection, customer id): where the kiosk's
# enrolment outbox row is written (the CLI layer passes sync.queue's writer).
EnrolHook = Callable[[sqlite3.Connection, str], object]


def enroll_images(
    engine: FaceEngine,
    gallery: Gallery,
    name: str,
    images: list[Path],
    consent: Consent,
    threshold: float = 0.6,
    customer_id: str | None = None,
    within: EnrolHook | None = None,
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
    kept = [vectors[path] for path in accepted]
    customer_id = gallery.enroll(name, kept, consent, customer_id=customer_id, within=within)
    return Enrollment(customer_id, accepted, rejected)


def enroll_command(
    args: Any, face: FaceConfig, key_file: Path, outbox: OutboxWriter | None = None
) -> int:
    """`smilepay enroll`: prints the new customer id (or JSON with --json).

    With `outbox`, the enrolment (name, consent, the step-up salt and hash) is queued for the
    ledger in the template's own transaction; the step-up hash is then kept only there, until
    the sync agent has uploaded it."""
    engine = FaceEngine.load(face)
    gallery = open_gallery_in(args.data_dir, key_file)
    try:
        consent = consent_now(args.name, args.kiosk_id, args.consent_text_version)
        step_up = step_up_secret(args.step_up) if args.step_up else None
        within = None if outbox is None else _outbox_hook(outbox, args.name, consent, step_up)
        result = enroll_images(
            engine,
            gallery,
            args.name,
            args.consent,
            consent,
            face.match_threshold,
            customer_id=getattr(args, "customer_id", None),
            within=within,
        )
        if step_up is not None and outbox is None:  # a kiosk outside any fleet checks locally
            gallery.upsert(
                result.customer_id, args.name, gallery.template(result.customer_id), *step_up
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
