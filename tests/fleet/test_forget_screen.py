"""Deleting one's face data on the screen (device/forget.py, device/screen/forget.py) and who
may use the screen's enrolment and deletion: the pure flow; a payment code held up to the
camera deletes at the real ledger; the gates of /api/enrol and /api/forget over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from device import forget as flow
from device.config import KioskConfig
from device.screen.config import ScreenConfig
from device.screen.enrol import EnrolmentService
from device.screen.forget import ForgetService
from device.screen.server import create_screen_app, serve_screen_in_thread
from models.gallery import Gallery
from tests.fleet.conftest import (
    FleetLedger,
    init_kiosk,
    last_json,
    sealed_templates,
    sync_until_drained,
    write_frames,
)
from tests.screen.step_kiosk import StepKiosk

PIN = "2468"


def test_the_flow_asks_the_digits_after_a_face_and_never_shows_who() -> None:
    # GIVEN a deletion started WHEN a face of the gallery is seen THEN the digits are asked
    state = flow.face_matched(flow.start(), "cust-1")
    assert state.step == "prove"
    # AND the screen's view names nobody
    assert "cust-1" not in str(flow.view(state))
    # WHEN the ledger took it THEN done; a refusal keeps nothing
    assert flow.finished(state, "cust-1", queued=False).outcome == "deleted"
    assert flow.refused(state, "step-up refused").customer_id is None
    # AND digits cannot come before a face
    with pytest.raises(flow.ForgetRefused):
        flow.face_matched(flow.cancel(state), "cust-1")


def test_a_payment_code_held_up_to_the_camera_deletes_the_face_everywhere(
    fleet_ledger: FleetLedger,
    engine: Any,
    demo_frames: list[np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from device.cli import main as smilepay
    from device.demo_world import phone_showing_qr
    from device.face_deletion import delete_face_data
    from sync.agent.client import LedgerClient
    from sync.agent.device_identity import DeviceIdentity

    a = tmp_path / "kiosk-A"
    a_id = init_kiosk(fleet_ledger, a, "shop-1")
    frames = write_frames(tmp_path / "frames", demo_frames)
    enroll = ["enroll", "--data-dir", str(a), "--name", "Astronaut", "--json"]
    assert smilepay([*enroll, "--consent", str(frames / "000.png")]) == 0
    customer = str(last_json(capsys.readouterr().out)["customer_id"])
    sync_until_drained(fleet_ledger, a)
    token_args = ["ledger", "customer", "token", customer, *fleet_ledger.operator_args()]
    assert smilepay([*token_args, "--json"]) == 0
    token = str(last_json(capsys.readouterr().out)["token"])
    identity = DeviceIdentity.load(a)
    gallery = Gallery.open(a / "gallery.db", a / KioskConfig().secrets.template_key_file)
    qr = phone_showing_qr(token)
    service = ForgetService(
        engine,
        gallery,
        lambda check: check(qr),  # the camera sees the customer's phone
        lambda cid, digits, tok: delete_face_data(
            cid,
            digits,
            tok,
            lambda: LedgerClient(fleet_ledger.url, identity.device_id, identity.key),
            lambda c: bool(gallery.delete(c, "customer at this screen")),
            a,
            lambda: None,
        ),
        0.6,
    )
    try:
        # GIVEN the deletion page WHEN the customer holds up their payment code
        service.start()
        view = service.look()
        # THEN their face data is deleted here at once and the ledger asks A to confirm
        assert view == {"step": "done", "guidance": None, "outcome": "deleted"}
        assert customer not in sealed_templates(a)
        show = ["ledger", "customer", "show", customer, *fleet_ledger.operator_args(), "--json"]
        assert smilepay(show) == 0
        assert last_json(capsys.readouterr().out)["deletion"]["pending"] == [a_id]
    finally:
        gallery.close()


@pytest.fixture()
def gated_screen(engine: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    gallery = Gallery.open(tmp_path / "gallery.db", tmp_path / "template.key")
    enrol = EnrolmentService(engine, gallery, lambda: None, "kiosk-t")
    forget = ForgetService(engine, gallery, lambda check: None, lambda *a: {}, 0.6)
    app = create_screen_app(StepKiosk(), ScreenConfig(port=0), PIN, enrolment=enrol, forget=forget)
    server = serve_screen_in_thread(app, "127.0.0.1", 0)
    yield server.url, server.launch_url
    server.stop()
    gallery.close()


def test_enrolment_needs_the_operator_unless_self_service_is_on_and_deletion_the_screen(
    gated_screen: tuple[str, str],
) -> None:
    url, launch_url = gated_screen
    json_headers = {"Content-Type": "application/json"}
    # GIVEN a client that is not the kiosk's screen THEN neither flow answers it
    with httpx.Client(base_url=url) as stranger:
        assert stranger.post("/api/enrol/start", headers=json_headers).status_code == 401
        assert stranger.post("/api/forget/start", headers=json_headers).status_code == 401
    with httpx.Client(base_url=url, follow_redirects=True) as screen:
        screen.get(launch_url)  # the kiosk's own browser: the launch secret becomes a cookie
        # WHEN the kiosk's screen asks THEN deletion is open, self-service enrolment is off
        assert screen.post("/api/forget/start", headers=json_headers).status_code == 200
        refused = screen.post("/api/enrol/start", headers=json_headers)
        assert refused.status_code == 403 and "staff" in refused.json()["error"]
        assert screen.get("/screen.json").json()["self_enrolment"] is False
        # WHEN the operator has logged in THEN the enrolment starts
        assert screen.post("/operator/login", json={"pin": PIN}).status_code == 200
        started = screen.post("/api/enrol/start", headers=json_headers)
        assert started.status_code == 200 and started.json()["step"] == "consent"
