"""`smilepay face forget`: a customer deletes their face data at this kiosk.

Identity comes from the face (recorded frames matched against this kiosk's gallery) or from the
customer's token; proof from the step-up digits or that token. The ledger checks the proof (the
step-up secret never leaves it), records the deletion and has every kiosk of the merchant delete
the template and confirm; this kiosk deletes its copy at once and confirms at its next sync.

While the ledger is unreachable, a token is still proof: the kiosk checks it against the
ledger's token-issuer public key, queues the request (sync/queue/deletion_outbox.py) and then
removes its own copy at once; the sync agent sends the request when the ledger is back. The
step-up digits can only be checked by the ledger, so offline they are refused (nothing is
removed) and the customer is asked for their payment code instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from base.errors import SmilepayError


class DeletionRefused(SmilepayError):
    """The customer's face data was not deleted; the message says why."""


def forget_command(args: Any, face: Any, key_file: Path) -> int:
    """Ask the ledger to delete the customer's face data, then delete the local copy."""
    from sync.agent.client import LedgerClient
    from sync.agent.device_identity import DeviceIdentity

    token = args.token_file.read_text().strip() if args.token_file else None
    if not token and not args.step_up:
        raise SmilepayError("give the customer's --step-up digits or their --token-file")
    customer_id = _who(args, face, key_file, token)
    identity = DeviceIdentity.load(args.data_dir)
    url = args.ledger_url or identity.ledger_url

    def delete_here(customer: str) -> bool:
        return _delete_here(args.data_dir, key_file, customer)

    result = delete_face_data(
        customer_id,
        args.step_up,
        token,
        lambda: LedgerClient(url, identity.device_id, identity.key),
        delete_here,
        args.data_dir,
        lambda: _issuer_key(args),
    )
    removed = result["removed_here"]
    print(json.dumps(result) if args.json else f"deleted {customer_id}; removed here: {removed}")
    return 0


def delete_face_data(
    customer_id: str,
    digits: str | None,
    token: str | None,
    new_client: Callable[[], Any],
    delete_here: Callable[[str], bool],
    data_dir: Path,
    issuer_key: Callable[[], Any],
) -> dict[str, Any]:
    """The customer proved who they are (step-up `digits` or `token`): have the ledger delete
    their face data everywhere and remove this kiosk's copy. Offline, a token is checked here
    and the request queued (before the local copy goes); digits are refused. Raises
    DeletionRefused with the reason when nothing was deleted."""
    from sync.agent.client import LedgerRefused, LedgerUnavailable

    try:
        with new_client() as client:
            answer = client.delete_face(customer_id, step_up_digits=digits, token=token)
    except LedgerRefused as exc:
        raise DeletionRefused(f"deletion refused: {exc.reason}") from None
    except LedgerUnavailable as exc:
        answer = _queue_offline(data_dir, customer_id, token, str(exc), issuer_key)
    removed = delete_here(customer_id)
    return {"customer_id": customer_id, "removed_here": removed, **answer}


def _queue_offline(
    data_dir: Path, customer_id: str, token: str | None, why: str, issuer_key: Callable[[], Any]
) -> dict[str, Any]:
    """The ledger is unreachable: with a token that checks out here, queue the request (before
    the local copy goes, so a crash cannot lose it); with the digits, refuse."""
    from base.token import TokenRejected, verify_token
    from models.gallery import now_iso
    from sync.queue.deletion_outbox import DeletionOutbox

    if not token:
        raise DeletionRefused(
            f"the ledger is unreachable ({why}) and only it can check the step-up digits: "
            "nothing was deleted; show your payment code or try again later"
        )
    issuer = issuer_key()
    if issuer is None:
        raise DeletionRefused("the ledger is unreachable and the token key is missing: no proof")
    now = time.time()
    try:
        claims = verify_token(token, issuer, now)
    except TokenRejected as exc:
        raise DeletionRefused(f"deletion refused: token refused: {exc}") from None
    if claims.customer_id != customer_id:
        raise DeletionRefused("deletion refused: the token is another customer's")
    outbox = DeletionOutbox.open(data_dir / "gallery.db")
    try:
        request_id = outbox.add(customer_id, token, int(now * 1000), now_iso())
    finally:
        outbox.close()
    return {"customer_id": customer_id, "queued": True, "request_id": request_id}


def _issuer_key(args: Any) -> Any:
    """The ledger's token-issuer public key named by the kiosk config (None if absent)."""
    from device.codes_input import load_issuer_key
    from device.config import load_config

    key_path = load_config(getattr(args, "config", None)).payments.token_issuer_key_file
    return load_issuer_key(key_path if key_path.is_absolute() else args.data_dir / key_path)


def _who(args: Any, face: Any, key_file: Path, token: str | None) -> str:
    """The customer named by the token, else the one the frames match."""
    if token:
        from base.token import parse_token

        return parse_token(token)[0].customer_id
    if args.frames_dir is None:
        raise SmilepayError("with --step-up, give FRAMES_DIR showing the customer's face")
    from models.engine import FaceEngine, open_gallery_in
    from models.replay import frame_files, replay

    engine = FaceEngine.load(face)
    gallery = open_gallery_in(args.data_dir, key_file)
    try:
        result = replay(engine, gallery, frame_files(args.frames_dir), face, 1, 10.0)
    finally:
        gallery.close()
    if not result["customer_id"]:
        raise SmilepayError("no enrolled customer recognised in the frames")
    return str(result["customer_id"])


def _delete_here(data_dir: Path, key_file: Path, customer_id: str) -> bool:
    from models.engine import open_gallery_in

    gallery = open_gallery_in(data_dir, key_file)
    try:
        return bool(gallery.delete(customer_id, "customer asked at this kiosk"))
    finally:
        gallery.close()
