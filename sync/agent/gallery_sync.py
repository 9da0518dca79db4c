"""The agent's half of fleet identity: push the enrolment outbox exactly once, and turn a page
of gallery changes (sealed to this kiosk) into one local gallery transaction.

Exactly once, as for sales: the ledger is idempotent on the enrolment id, and the row leaves the
outbox only after the ledger's answer, so a lost request or a crash in between resends it and
the ledger answers `duplicate`.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.agent.client import GalleryChange, LedgerClient, LedgerRefused
from sync.queue.deletion_outbox import DeletionRequest
from sync.queue.enrolment_outbox import OutboxEntry

log = logging.getLogger("smilepay.sync")
PAGE = 50


class OutboxLike(Protocol):
    """The part of `sync.queue.enrolment_outbox.EnrolmentOutbox` the agent uses."""

    def pending(self, limit: int = 100) -> list[OutboxEntry]: ...
    def sent(self, enrolment_id: str) -> None: ...
    def refused(self, enrolment_id: str, reason: str) -> None: ...


class DeletionsLike(Protocol):
    """The part of `sync.queue.deletion_outbox.DeletionOutbox` the agent uses."""

    def pending(self, limit: int = 100) -> list[DeletionRequest]: ...
    def sent(self, request_id: str) -> None: ...
    def refused(self, request_id: str, reason: str) -> None: ...


class TemplateSource(Protocol):
    """Reads a local template to upload (None once the customer was deleted here)."""

    def template_or_none(self, customer_id: str) -> Any: ...


# The ledger takes no enrolments now (started without its template key): the rows stay queued.
HELD = "enrolments_disabled"


class EnrolmentsHeld(Exception):
    """The ledger cannot take enrolments now; the outbox keeps them for a later cycle."""


def push_enrolments(outbox: OutboxLike, gallery: TemplateSource, client: LedgerClient) -> int:
    """Send every pending enrolment; returns how many the ledger now holds. Raises
    EnrolmentsHeld, with every row still queued, when the ledger takes no enrolments."""
    pushed = 0
    while entries := outbox.pending(PAGE):
        for entry in entries:
            pushed += _push_one(outbox, gallery, client, entry)
    return pushed


def _push_one(
    outbox: OutboxLike, gallery: TemplateSource, client: LedgerClient, entry: OutboxEntry
) -> int:
    vector = gallery.template_or_none(entry.customer_id)
    if vector is None:
        log.info("enrolment withdrawn before upload", extra={"customer_id": entry.customer_id})
        outbox.sent(entry.enrolment_id)
        return 0
    template = base64.b64encode(vector.astype("<f4").tobytes()).decode()
    body = {
        **entry.body,
        "enrolment_id": entry.enrolment_id,
        "customer_id": entry.customer_id,
        "template_b64": template,
    }
    try:
        answer = client.enroll(body)
    except LedgerRefused as exc:
        if exc.code == HELD:
            raise EnrolmentsHeld(f"the ledger takes no enrolments now: {exc.reason}") from None
        log.error("enrolment refused by the ledger", extra={"customer_id": entry.customer_id})
        outbox.refused(entry.enrolment_id, f"{exc.code}: {exc.reason}")
        return 0
    outbox.sent(entry.enrolment_id)
    log.info("enrolment uploaded", extra={"customer_id": entry.customer_id, **answer})
    return 1


def push_deletions(outbox: DeletionsLike, client: LedgerClient) -> int:
    """Send the deletions customers asked for while the ledger was away (this kiosk removed
    its own copy then); returns how many the ledger took. Sent before the gallery pull, so a
    page pulled afterwards already carries the deletion."""
    sent = 0
    while requests := outbox.pending(PAGE):
        for request in requests:
            sent += _send_deletion(outbox, client, request)
    return sent


def _send_deletion(outbox: DeletionsLike, client: LedgerClient, request: DeletionRequest) -> int:
    body = request.body
    try:
        answer = client.delete_face(
            request.customer_id, token=body.get("token"), proven_at_ms=body.get("proven_at_ms")
        )
    except LedgerRefused as exc:
        if exc.code == HELD:
            raise EnrolmentsHeld(f"the ledger takes no deletions now: {exc.reason}") from None
        if exc.status == 404:  # never uploaded (deleted here first) or not this merchant's
            log.info("deletion: the ledger holds no such customer", extra=_who(request))
            outbox.sent(request.request_id)
            return 0
        log.error("queued deletion refused by the ledger", extra={**_who(request), "why": exc.code})
        outbox.refused(request.request_id, f"{exc.code}: {exc.reason}")
        return 0
    outbox.sent(request.request_id)
    log.info("queued deletion sent", extra={**_who(request), **answer})
    return 1


def _who(request: DeletionRequest) -> dict[str, str]:
    return {"customer_id": request.customer_id, "request_id": request.request_id}


def local_changes(
    changes: list[GalleryChange], key: Ed25519PrivateKey
) -> list[tuple[str, str, str, Any]]:
    """The page as steps for `Gallery.apply_changes` (boxes opened with this kiosk's key)."""
    from sync.agent.agent import ProtocolViolation

    steps: list[tuple[str, str, str, Any]] = []
    for change in changes:
        if change.action == "upsert":
            name, vector = change.open(key)
            steps.append(("upsert", change.customer_id, name or change.customer_id, vector))
        elif change.action == "delete":
            steps.append(("delete", change.customer_id, "deletion from the ledger", None))
        else:
            raise ProtocolViolation(f"gallery change {change.change_id}: {change.action!r}")
    return steps
