"""Issue 15's "done when", end to end in one test: a real ledger (SQLite, and PostgreSQL), kiosks A
and B of merchant shop-1 and C of shop-2 (`device init --merchant-id`), real face models, real
Yale faces from the shared test data, and the real kiosk (`device.app.Kiosk`) with its screen in
headless Chromium. The demo's world plays the customer in front of each simulated camera.

- customer 1 enrols at kiosk A on the screen (the idle screen's self-service entry), customer 2
  by `smilepay enroll --json`; A, B and C sync (`sync run --until-drained`);
- customer 1 pays by face at kiosk B: a booked sale, on the ledger after B syncs; `face replay`
  at B matches too; kiosk C never holds either template (no row, no bytes);
- customer 1 deletes their face data on B's screen (face plus step-up digits on the keypad);
  the operator deletes customer 2 at the ledger (`DELETE /v1/customers/{id}` with the admin
  token); every kiosk syncs;
- nobody matches them any more, `customer show` lists A and B under `confirmed_by` with nothing
  `pending`, and neither the sealed template nor its float32 encoding is left in any SQLite file
  (database, WAL) of any kiosk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from device.cli import main as smilepay
from tests.fleet.conftest import (
    FleetLedger,
    init_kiosk,
    last_json,
    sealed_templates,
    start_fleet_ledger,
    sync_until_drained,
    write_frames,
)
from tests.screen.browser_page import Page
from tests.screen.conftest import browser, screenshots  # noqa: F401
from tests.timing import slow

pytestmark = pytest.mark.browser
# Yale subjects whose normal -> happy photos the face pipeline takes as a live smile.
SCREEN_SUBJECT, CLI_SUBJECT = "05", "08"
STEP_UP = "4711"
WAIT_S = slow(60.0)
SALE_MINOR = 250


def yale_frames(shared_data: Path, subject: str, seed: int = 3) -> list[np.ndarray]:
    """A camera's view of Yale subject `subject`: neutral frames, then smiling ones (640x480,
    small head motion and sensor noise as the demo's frames have)."""
    from models.demo_faces import camera_frame
    from models.engine import read_image

    def on_counter(condition: str) -> np.ndarray:
        photo = read_image(shared_data / "faces" / "yale" / f"subject{subject}.{condition}.jpeg")
        photo = cv2.resize(photo, None, fx=1.6, fy=1.6)
        frame = np.full((480, 640, 3), 110, np.uint8)
        top, left = (480 - photo.shape[0]) // 2, (640 - photo.shape[1]) // 2
        frame[top : top + photo.shape[0], left : left + photo.shape[1]] = photo
        return frame

    rng = np.random.default_rng(seed)
    centre = np.array([320.0, 260.0])
    neutral, happy = on_counter("normal"), on_counter("happy")
    return [camera_frame(neutral, rng, centre) for _ in range(6)] + [
        camera_frame(happy, rng, centre) for _ in range(8)
    ]


@dataclass
class RunningKiosk:
    """A real kiosk on simulated hardware, with the demo's world in front of its camera."""

    data_dir: Path
    device_id: str
    kiosk: Any  # device.app.Kiosk
    world: Any  # device.demo_world.DemoWorld


def start_kiosk(
    stack: ExitStack, ledger: FleetLedger, data_dir: Path, device_id: str, face: list[np.ndarray]
) -> RunningKiosk:
    from base.keys import load_key_file
    from device.app import Kiosk, KioskDrivers
    from device.assembly import open_services
    from device.config import parse_config
    from device.demo import install_issuer_public_key
    from device.demo_world import DemoWorld
    from drivers.camera.synthetic import SyntheticCamera
    from drivers.indicator.simulated import SimulatedIndicator
    from drivers.printer.simulated import SimulatedPrinter
    from drivers.scanner.simulated import SimulatedScanner

    config = parse_config(
        {
            "device": {"data_dir": str(data_dir)},
            "sync": {"ledger_url": ledger.url, "online_auth_timeout_s": slow(10.0)},
            "screen": {"port": 0, "self_enrolment": True},
        },
        "fleet test",
    )
    issuer = load_key_file(ledger.admin_token_file.parent / "issuer.key")
    install_issuer_public_key(config, issuer)
    camera = SyntheticCamera()
    drivers = KioskDrivers(camera, SimulatedScanner(), SimulatedPrinter(), SimulatedIndicator())
    kiosk = Kiosk(config, drivers, open_services(config))
    stack.callback(kiosk.services.gallery.close)
    world = DemoWorld(
        camera, lambda: kiosk.state.phase, face, type_step_up=lambda: kiosk.enter_digits(STEP_UP)
    )
    world.start()
    stack.callback(world.stop)
    kiosk.start()
    stack.callback(kiosk.stop)
    return RunningKiosk(data_dir, device_id, kiosk, world)


@pytest.fixture()
def fleet(done_when_ledger: FleetLedger, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    kiosks = {}
    for name, merchant in (("A", "shop-1"), ("B", "shop-1"), ("C", "shop-2")):
        data_dir = tmp_path / f"kiosk-{name}"
        kiosks[name] = (data_dir, init_kiosk(done_when_ledger, data_dir, merchant))
    return kiosks


@pytest.fixture()
def stack() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


def enrol_on_screen(page: Page, kiosk: RunningKiosk, name: str) -> str:
    """The customer taps the idle screen's enrol entry and walks the flow; returns their id."""
    step = lambda: page.element("body").get_attribute("data-enrol-step")  # noqa: E731
    page.open("/")
    page.wait_phase("idle")
    page.wait_until(lambda: page.element("#enrol-entry").is_displayed())
    page.shot("1-idle-entry")
    page.click("#enrol-entry")
    page.wait_until(lambda: step() == "cancelled")
    page.click("#enrol-start")
    page.wait_until(lambda: step() == "consent")
    page.click("#enrol-accept")
    page.wait_until(lambda: step() in ("capture", "step_up"))
    page.shot("2-capture")
    page.wait_until(lambda: step() == "step_up")
    page.element("#enrol-digits").send_keys(STEP_UP)
    page.click("#enrol-digits-ok")
    page.wait_until(lambda: step() == "confirm")
    page.element("#enrol-name").send_keys(name)
    page.click("#enrol-confirm")
    page.wait_until(lambda: step() == "done")
    page.shot("3-done")
    customer_id = page.driver.execute_script(
        "return fetch('/api/enrol/state').then((r) => r.json()).then((v) => v.customer_id)"
    )
    assert isinstance(customer_id, str) and customer_id
    return customer_id


def forget_on_screen(stack: ExitStack, driver: Any, shots: Path, kiosk: RunningKiosk) -> None:
    """The customer taps the idle screen's "delete my face data", faces the camera and types
    their step-up digits on the keypad."""
    from device.screen.forget import kiosk_forget
    from device.screen.server import create_screen_app, serve_screen_in_thread

    forget = kiosk_forget(kiosk.kiosk)
    assert forget is not None
    kiosk.world.wants_face = lambda: forget.state.step == "identify"
    app = create_screen_app(kiosk.kiosk, kiosk.kiosk.config.screen, None, forget=forget)
    screen = serve_screen_in_thread(app, "127.0.0.1", 0)
    stack.callback(screen.stop)
    page = Page(driver, screen, shots, "fleet-forget", wait_s=WAIT_S)
    step = lambda: page.element("body").get_attribute("data-forget-step")  # noqa: E731
    page.open("/")
    page.wait_phase("idle")
    page.wait_until(lambda: page.element("#forget-entry").is_displayed())
    page.click("#forget-entry")
    page.wait_until(lambda: step() == "cancelled")
    page.click("#forget-start")
    page.wait_until(lambda: step() == "prove")
    page.shot("1-prove")
    page.element("#forget-digits").send_keys(STEP_UP)
    page.click("#forget-digits-ok")
    page.wait_until(lambda: step() in ("done", "refused"))
    page.shot("2-done")
    assert step() == "done", page.visible_text("#forget-reason")
    assert "Deleted from this kiosk" in page.visible_text("#forget-outcome")


def pay_by_face(kiosk: Any) -> dict[str, Any]:
    """A sale at `kiosk` paid by the face in front of its camera; returns its queued record."""
    from device.checkout import Phase

    kiosk.add_item("Green tea", 1, SALE_MINOR)
    kiosk.wait_for(Phase.BASKET, slow(10))
    kiosk.pay()
    kiosk.wait_for(Phase.CHOOSE_PAYMENT, slow(10))
    kiosk.choose_payment("face")
    state = kiosk.wait_for(Phase.APPROVED, WAIT_S)
    record: dict[str, Any] = kiosk.services.queue.get_record(state.sale_id)
    kiosk.wait_for(Phase.IDLE, slow(20))
    return record


def replay(frames: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert smilepay(["face", "replay", str(frames), "--data-dir", str(data_dir), "--json"]) == 0
    return last_json(capsys.readouterr().out)


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert smilepay(args) == 0, args
    return last_json(capsys.readouterr().out)


def raw_sqlite_bytes(data_dir: Path) -> bytes:
    """Every SQLite file of the kiosk (databases, WAL, shared memory) as raw bytes on disk."""
    files = [p for p in sorted(data_dir.rglob("*.db*")) if p.is_file()]
    assert any(p.name == "gallery.db" for p in files)
    return b"".join(p.read_bytes() for p in files)


def plain_template(data_dir: Path, customer_id: str) -> bytes:
    """The customer's template as float32 bytes, read through the kiosk's gallery key."""
    from device.config import KioskConfig
    from models.gallery import read_template

    key = data_dir / KioskConfig().secrets.template_key_file
    vector = read_template(data_dir / "gallery.db", key, customer_id)
    assert vector is not None
    return bytes(np.asarray(vector, dtype="<f4").tobytes())


def ledger_sale(ledger: FleetLedger, sale_id: str) -> tuple[str, int, str] | None:
    """(customer, amount, status) of a sale as the ledger's own database holds it."""
    import sqlalchemy as sa

    engine = sa.create_engine(ledger.db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT customer_id, amount_minor, status FROM sales WHERE sale_id = :s"),
                {"s": sale_id},
            ).first()
    finally:
        engine.dispose()
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]))


@pytest.fixture(params=["sqlite", "postgresql"])
def done_when_ledger(
    request: pytest.FixtureRequest, tmp_path: Path, pg_admin_url: str
) -> Iterator[FleetLedger]:
    """The ledger on SQLite, or on a PostgreSQL database of its own."""
    from tests.ledger.conftest import _postgres_database

    if request.param == "sqlite":
        (tmp_path / "ledger").mkdir()
        ledger = start_fleet_ledger(tmp_path, f"sqlite:///{tmp_path / 'ledger' / 'ledger.db'}")
        yield ledger
        ledger.server.stop()
        return
    for db_url in _postgres_database(pg_admin_url):
        ledger = start_fleet_ledger(tmp_path, db_url)
        yield ledger
        ledger.server.stop()


def test_enrol_on_a_screen_pay_at_b_never_at_c_delete_everywhere_bytes_gone(
    done_when_ledger: FleetLedger,
    fleet: dict[str, tuple[Path, str]],
    stack: ExitStack,
    browser: Any,  # noqa: F811
    screenshots: Path,  # noqa: F811
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from device.screen.enrol import kiosk_enrolment
    from device.screen.server import create_screen_app, serve_screen_in_thread

    fleet_ledger = done_when_ledger
    (a, a_id), (b, b_id), (c, c_id) = fleet["A"], fleet["B"], fleet["C"]
    face_1 = yale_frames(shared_data, SCREEN_SUBJECT)
    face_2 = yale_frames(shared_data, CLI_SUBJECT)
    frames_1 = write_frames(tmp_path / "frames-1", face_1)
    frames_2 = write_frames(tmp_path / "frames-2", face_2)
    # GIVEN kiosk A running with its screen, customer 1 in front of its camera
    kiosk_a = start_kiosk(stack, fleet_ledger, a, a_id, face_1)
    enrolment = kiosk_enrolment(kiosk_a.kiosk)
    assert enrolment is not None
    kiosk_a.world.wants_face = lambda: enrolment.state.step == "capture"
    app = create_screen_app(kiosk_a.kiosk, kiosk_a.kiosk.config.screen, None, enrolment=enrolment)
    screen = serve_screen_in_thread(app, "127.0.0.1", 0)
    stack.callback(screen.stop)
    # WHEN customer 1 enrols on A's screen and customer 2 by the CLI at A
    page = Page(browser, screen, screenshots, "fleet-done", wait_s=WAIT_S)
    customer_1 = enrol_on_screen(page, kiosk_a, "Yale Five")
    consent = [str(frames_2 / "000.png"), str(frames_2 / "003.png")]
    enroll = ["enroll", "--data-dir", str(a), "--name", "Yale Eight", "--consent", *consent]
    customer_2 = str(cli([*enroll, "--json"], capsys)["customer_id"])
    # AND A, then B, then C sync
    for data_dir in (a, b, c):
        sync_until_drained(fleet_ledger, data_dir)
    # THEN B holds both customers and C neither
    assert {customer_1, customer_2} <= set(sealed_templates(b))
    assert not {customer_1, customer_2} & set(sealed_templates(c))
    held = {
        (name, cid): (sealed_templates(d)[cid], plain_template(d, cid))
        for name, d in (("A", a), ("B", b))
        for cid in (customer_1, customer_2)
    }
    for sealed, plain in held.values():
        assert plain[:64] not in raw_sqlite_bytes(c)  # C never held the template, in any form
        assert sealed[:64] not in raw_sqlite_bytes(c)
    # WHEN customer 1's wallet is funded and they pay by face at kiosk B
    topup = ["ledger", "customer", "topup", customer_1, "--amount-minor", "5000"]
    cli([*topup, *fleet_ledger.operator_args(), "--json"], capsys)
    kiosk_b = start_kiosk(stack, fleet_ledger, b, b_id, face_1)
    sale = pay_by_face(kiosk_b.kiosk)
    # THEN it is their sale, booked at the ledger once B has synced
    assert (sale["customer_id"], sale["amount_minor"]) == (customer_1, SALE_MINOR)
    sync_until_drained(fleet_ledger, b)
    assert ledger_sale(fleet_ledger, sale["sale_id"]) == (customer_1, SALE_MINOR, "accepted")
    # AND `face replay` at B recognises customer 1, and at C nobody
    at_b = replay(frames_1, b, capsys)
    assert (at_b["customer_id"], at_b["match"]) == (customer_1, "Yale Five")
    assert replay(frames_1, c, capsys)["customer_id"] is None
    assert replay(frames_2, b, capsys)["customer_id"] == customer_2
    # WHEN customer 1 deletes their face data on B's screen (face plus step-up)
    forget_on_screen(stack, browser, screenshots, kiosk_b)
    # THEN it is gone from B at once: B's running kiosk no longer finds them
    assert kiosk_b.kiosk.services.gallery.template_or_none(customer_1) is None
    # AND the operator deletes customer 2 at the ledger (admin bearer token)
    token = fleet_ledger.admin_token_file.read_text().strip()
    response = httpx.delete(
        f"{fleet_ledger.url}/v1/customers/{customer_2}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code < 300, response.text
    # AND every kiosk syncs once (the running kiosks stop first: their files are read raw)
    stack.close()
    for data_dir in (a, b, c):
        sync_until_drained(fleet_ledger, data_dir)
    # THEN both deletions are confirmed by A and B, nothing pending, C never asked
    for customer in (customer_1, customer_2):
        show = ["ledger", "customer", "show", customer, *fleet_ledger.operator_args(), "--json"]
        deletion = cli([*show], capsys)["deletion"]
        assert deletion["confirmed_by"] == sorted([a_id, b_id]), customer
        assert deletion["pending"] == [] and c_id not in deletion["confirmed_by"]
    # AND nobody matches either customer anywhere
    for frames in (frames_1, frames_2):
        for data_dir in (a, b, c):
            assert replay(frames, data_dir, capsys)["customer_id"] is None
    # AND the template bytes, sealed or plain, are in no SQLite file of any kiosk
    for (name, customer), (sealed, plain) in held.items():
        for data_dir in (a, b, c):
            raw = raw_sqlite_bytes(data_dir)
            assert sealed[:64] not in raw, (name, customer, data_dir.name)
            assert plain[:64] not in raw, (name, customer, data_dir.name)
