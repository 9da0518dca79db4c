"""`smilepay demo`: a ledger, a registered device, an enrolled customer and a kiosk on simulated
hardware, all on this machine. `--scripted` walks the whole journey and checks every step:
a smile sale, a QR sale, the ledger going away, two offline sales, the ledger back, the sync.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base.errors import SmilepayError
from device.app import Kiosk, KioskDrivers
from device.checkout import Phase, Timeouts
from device.config import KioskConfig
from device.demo_world import DemoWorld, phone_showing_qr, wait_until
from models.config import FaceConfig

log = logging.getLogger("smilepay.demo")
CUSTOMER_NAME = "Eileen (astronaut)"
# The demo customer's step-up digits (the last 4 of their phone number): the simulated customer
# types them when a sale asks for a step-up, so face sales over the step-up amount succeed.
STEP_UP_DIGITS = "2468"
TOP_UP_MINOR = 10_000
BASKET = (("Flat white", 1, 350), ("Croissant", 2, 275))  # 9.00 in all
SALE_TIMEOUT_S = 60.0
DEMO_CATALOGUE = [
    {"id": "flat-white", "name": "Flat white", "unit_minor": 350},
    {"id": "croissant", "name": "Croissant", "unit_minor": 275},
    {"id": "orange-juice", "name": "Orange juice", "unit_minor": 420},
    {"id": "green-tea", "name": "Green tea", "unit_minor": 250},
]
TEMPLATE_KEY = "template.key"  # the ledger's key for enrolled templates, beside its database
WAITING_PHASE = {"face": Phase.FACE_CAPTURE, "customer_qr": Phase.QR_WAIT}
# The checkout timeouts that bound the demo kiosk's own work (analysing faces, decoding codes,
# authorising online): stretched by the slowdown. Those that time a customer's choices (basket,
# payment choice, merchant QR) or how long a screen shows (result, error) are left as they are.
STRETCHED_TIMEOUTS = ("face", "walk_away", "step_up", "qr_wait", "authorizing")


class DemoFailed(SmilepayError):
    """A step of the scripted demo did not happen."""


@dataclass
class DemoSetup:
    """Everything the demo started, for the journey to use and to stop at the end."""

    data_dir: Path
    ledger_db_url: str
    ledger: Any  # RunningServer
    device_id: str
    customer_id: str
    token: str
    config: KioskConfig
    kiosk: Kiosk
    camera: Any
    world: DemoWorld
    steps: list[dict[str, Any]] = field(default_factory=list)
    admin_token: str | None = None
    slowdown: float = 1.0  # demo_slowdown(): the demo's waits and its kiosk's timeouts stretch


def demo_slowdown() -> float:
    """How many times slower than a Pi this machine runs the demo: SMILEPAY_SLOWDOWN (default 1),
    which tools/check-arm64.sh sets under qemu-user emulation (10-30x slower). The simulated
    customer streams frames in real time, so an emulated kiosk would run out of time before its
    face analysis saw the smile; the demo, a simulation, stretches its own waits and its kiosk's
    work timeouts (STRETCHED_TIMEOUTS, face capture, online authorisation) by this factor.
    `smilepay kiosk` never reads it: a real kiosk's timeouts are its config's."""
    raw = os.environ.get("SMILEPAY_SLOWDOWN", "").strip() or "1"
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 1.0 <= value <= 1000.0):
        raise DemoFailed(f"SMILEPAY_SLOWDOWN must be a number from 1 to 1000, got {raw!r}")
    return value


def stretched_timeouts(slowdown: float) -> Timeouts:
    """The checkout's timeouts with those bounding the kiosk's own work stretched by `slowdown`."""
    base = Timeouts()
    return replace(base, **{name: getattr(base, name) * slowdown for name in STRETCHED_TIMEOUTS})


def say(step: str, **details: Any) -> None:
    """Progress on stderr: one line per step of the demo."""
    extra = " ".join(f"{k}={v}" for k, v in details.items())
    print(f"[demo] {step} {extra}".rstrip(), file=sys.stderr, flush=True)


# --- set-up -------------------------------------------------------------------------------------


def start_ledger(
    db_url: str,
    issuer: Ed25519PrivateKey,
    port: int = 0,
    admin_token: str | None = None,
    template_key_file: Path | None = None,
) -> Any:
    """The real ledger service (uvicorn on a real socket) on `db_url`, issuing customer tokens
    signed with `issuer`; operator calls and registrations need `admin_token` (and a code).
    With `template_key_file` it takes enrolments (templates sealed under that key)."""
    from sync.ledger.app import create_app
    from sync.ledger.server import serve_in_thread

    app = create_app(
        db_url, admin_token=admin_token, issuer_key=issuer, template_key_file=template_key_file
    )
    return serve_in_thread(app, "127.0.0.1", port)


def admin_token(ledger_dir: Path) -> str:
    """The demo ledger's operator token: a 0600 file beside its database, made once."""
    import os
    import secrets

    path = ledger_dir / "admin.token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _operator(ledger_url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=ledger_url, timeout=10, headers=headers)


def registration_code(ledger_url: str, token: str | None) -> str:
    """A single-use registration code for the demo's kiosk (what an operator hands a kiosk)."""
    with _operator(ledger_url, token) as http:
        response = http.post("/v1/registration-codes", json={"expires_in_s": 600})
        _check(response, "mint a registration code")
        return str(response.json()["code"])


DEMO_POS_KEY = Path("terminal/demo-pos.key")


def demo_config(
    data_dir: Path, ledger_url: str, port: int, terminal_mode: bool = False, slowdown: float = 1.0
) -> KioskConfig:
    """The embedded demo defaults, pointed at this demo's data dir, ledger and screen port; a
    demo POS may drive it through the terminal API (in terminal mode, only the POS). The face
    capture and online authorisation timeouts stretch by `slowdown` (see demo_slowdown)."""
    from device.config import parse_config

    return parse_config(
        {
            "device": {
                "data_dir": str(data_dir),
                "name": "smilepay demo kiosk",
                "receipt_base_url": ledger_url,  # the demo's ledger is its own public site
            },
            "face": {"capture_timeout_s": FaceConfig().capture_timeout_s * slowdown},
            "sync": {
                "ledger_url": ledger_url,
                "online_auth_timeout_s": 1.0 * slowdown,
                "interval_s": 1.0,
            },
            # The demo customer may enrol at the idle screen's "enrol" entry (self-service).
            "screen": {"port": port, "self_enrolment": True},
            "catalogue": {"items": DEMO_CATALOGUE},
            "terminal": {
                "enabled": terminal_mode,
                "port": 0,
                "pos_key_files": [str(DEMO_POS_KEY)],
            },
        },
        "demo defaults",
    )


def create_customer(
    ledger_url: str, customer_id: str, currency: str, token: str | None = None
) -> None:
    """Operator calls: create the customer's wallet and top it up."""
    with _operator(ledger_url, token) as http:
        body = {"customer_id": customer_id, "name": CUSTOMER_NAME, "currency": currency}
        _check(http.post("/v1/customers", json=body), "create customer")
        topup = {"amount_minor": TOP_UP_MINOR, "currency": currency, "reference": "demo-top-up"}
        _check(http.post(f"/v1/customers/{customer_id}/topups", json=topup), "top up")


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise DemoFailed(f"{what}: ledger answered {response.status_code} {response.text}")


def enroll_demo_customer(config: KioskConfig, engine: Any, device_id: str) -> str:
    """Enroll the astronaut (public domain) with a consent record; returns the customer id."""
    from models.demo_faces import astronaut
    from models.gallery import Consent, Gallery, now_iso, step_up_secret

    image = astronaut(config.face.model_dir)
    observation = engine.analyse(image)
    if not observation.usable:
        raise DemoFailed("the demo face did not pass the quality gates")
    gallery = Gallery.open(
        config.device.data_dir / "gallery.db",
        config.secret_path(config.secrets.template_key_file),
    )
    try:
        consent = Consent(CUSTOMER_NAME, now_iso(), device_id, "consent-v1")
        embedding = engine.embed(image, observation)
        customer_id = gallery.enroll(CUSTOMER_NAME, [embedding], consent)
        gallery.upsert(customer_id, CUSTOMER_NAME, embedding, *step_up_secret(STEP_UP_DIGITS))
        return customer_id
    finally:
        gallery.close()


def token_issuer(ledger_dir: Path) -> Ed25519PrivateKey:
    """The ledger's customer-token key (a 0600 file beside its database)."""
    from base.keys import create_key_file, load_key_file

    key_file = ledger_dir / "token_issuer.key"
    return load_key_file(key_file) if key_file.exists() else create_key_file(key_file)


def install_issuer_public_key(config: KioskConfig, issuer: Ed25519PrivateKey) -> None:
    """Provision the kiosk with the ledger's token-issuer public key (it checks tokens offline)."""
    from base.keys import public_key_b64

    public = config.secret_path(config.payments.token_issuer_key_file)
    public.write_text(public_key_b64(issuer) + "\n", encoding="ascii")


def customer_token(ledger_url: str, customer_id: str, token: str | None = None) -> str:
    """What the customer's phone shows: a token the ledger issued and signed. It pays once and
    lives 10 minutes at most, so the phone (here: the demo) refreshes it for each payment."""
    with _operator(ledger_url, token) as http:
        response = http.post(f"/v1/customers/{customer_id}/tokens", json={"ttl_s": 600})
        _check(response, "issue a customer token")
        return str(response.json()["token"])


def set_up(stack: ExitStack, data_dir: Path, port: int, terminal_mode: bool = False) -> DemoSetup:
    """Start the ledger, register the device, enroll and fund the customer, assemble the kiosk."""
    from device.assembly import open_services
    from drivers.camera.synthetic import SyntheticCamera
    from drivers.indicator.simulated import SimulatedIndicator
    from drivers.printer.simulated import SimulatedPrinter
    from drivers.scanner.simulated import SimulatedScanner
    from models.demo_faces import demo_sequence
    from models.engine import FaceEngine
    from sync.agent.device_identity import init_device

    slowdown = demo_slowdown()
    ledger_dir, device_dir = data_dir / "ledger", data_dir / "device"
    ledger_dir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{ledger_dir / 'ledger.db'}"
    issuer = token_issuer(ledger_dir)
    admin = admin_token(ledger_dir)
    ledger = start_ledger(
        db_url, issuer, admin_token=admin, template_key_file=ledger_dir / TEMPLATE_KEY
    )
    stack.callback(lambda: ledger.stop())
    say("ledger started", url=ledger.url, db=db_url)
    code = registration_code(ledger.url, admin)
    identity = init_device(
        device_dir, ledger.url, name="smilepay demo kiosk", registration_token=code
    )
    say("device registered", device_id=identity.device_id)
    config = demo_config(device_dir, ledger.url, port, terminal_mode, slowdown)
    if not config.secret_path(DEMO_POS_KEY).exists():
        from device.terminal.auth import create_pos_key_file

        create_pos_key_file(config.secret_path(DEMO_POS_KEY), "demo-pos")
    engine = FaceEngine.load(config.face)
    customer_id = enroll_demo_customer(config, engine, identity.device_id)
    create_customer(ledger.url, customer_id, config.device.currency, admin)
    say("customer enrolled and funded", customer_id=customer_id, balance_minor=TOP_UP_MINOR)
    install_issuer_public_key(config, issuer)
    token = customer_token(ledger.url, customer_id, admin)
    camera = SyntheticCamera()
    drivers = KioskDrivers(camera, SimulatedScanner(), SimulatedPrinter(), SimulatedIndicator())
    kiosk = Kiosk(config, drivers, open_services(config))
    if slowdown != 1.0:
        kiosk.state = replace(kiosk.state, timeouts=stretched_timeouts(slowdown))
        say("waits and kiosk work timeouts stretched (SMILEPAY_SLOWDOWN)", slowdown=slowdown)
    world = DemoWorld(
        camera,
        lambda: kiosk.state.phase,
        demo_sequence(config.face.model_dir, engine),
        phone_showing_qr(token),
        type_step_up=lambda: kiosk.enter_digits(STEP_UP_DIGITS),
    )
    setup = DemoSetup(
        data_dir,
        db_url,
        ledger,
        identity.device_id,
        customer_id,
        token,
        config,
        kiosk,
        camera,
        world,
        admin_token=admin,
        slowdown=slowdown,
    )
    world.refresh_qr = lambda: show_fresh_token(setup)
    return setup


def show_fresh_token(setup: DemoSetup) -> None:
    """The customer's phone refreshes its payment code (a token pays once)."""
    from device.demo_world import phone_showing_qr

    setup.token = customer_token(setup.ledger.url, setup.customer_id, setup.admin_token)
    setup.world.qr_frame = phone_showing_qr(setup.token)


# --- the scripted journey -----------------------------------------------------------------------


def buy(setup: DemoSetup, method: str, expect_offline: bool) -> dict[str, Any]:
    """One customer: basket, pay, the chosen method, approved; returns the step's record."""
    kiosk, slowdown = setup.kiosk, setup.slowdown
    for name, quantity, unit in BASKET:
        kiosk.add_item(name, quantity, unit)
    kiosk.wait_for(Phase.BASKET, 5 * slowdown)
    kiosk.pay()
    kiosk.wait_for(Phase.CHOOSE_PAYMENT, 5 * slowdown)
    started = time.monotonic()
    kiosk.choose_payment(method)
    kiosk.wait_for(WAITING_PHASE[method], 5 * slowdown)
    state = _wait_for_result(kiosk, SALE_TIMEOUT_S * slowdown)
    if state.phase != Phase.APPROVED:
        raise DemoFailed(f"{method} sale ended {state.phase.value}: {state.notice}")
    if state.offline != expect_offline:
        raise DemoFailed(f"{method} sale offline={state.offline}, expected {expect_offline}")
    record = kiosk.services.queue.get_record(state.sale_id or "")
    if record is None:
        raise DemoFailed(f"{method} sale {state.sale_id} is not in the queue")
    step = {
        "step": f"{method} sale" + (" (offline)" if expect_offline else ""),
        "sale_id": record["sale_id"],
        "seq": record["seq"],
        "amount_minor": record["amount_minor"],
        "customer_id": record["customer_id"],
        "offline": record["offline"],
        "seconds": round(time.monotonic() - started, 2),
    }
    say("approved", **{k: v for k, v in step.items() if k != "step"})
    kiosk.wait_for(Phase.IDLE, 15 * slowdown)
    return step


def _wait_for_result(kiosk: Kiosk, timeout_s: float) -> Any:
    done = {Phase.APPROVED, Phase.DECLINED, Phase.OFFLINE_LIMIT, Phase.ERROR, Phase.CHOOSE_PAYMENT}
    wait_until(lambda: kiosk.state.phase in done, timeout_s, "the sale's outcome")
    return kiosk.state


def drain(setup: DemoSetup) -> int:
    """Run the sync agent until the queue is empty; returns how many sales it synced."""
    from sync.agent.agent import SyncAgent
    from sync.agent.device_identity import DeviceIdentity

    identity = DeviceIdentity.load(setup.config.device.data_dir)
    synced = 0

    def count(outcome: Any) -> None:
        nonlocal synced
        synced += outcome.synced

    with setup.kiosk.services.new_ledger_client() as client:
        agent = SyncAgent(
            setup.kiosk.services.queue, client, identity.key, setup.config.sync, on_batch=count
        )
        if agent.run("until-drained") != 0:
            raise DemoFailed(f"the sync agent could not drain the queue: {agent.status.last_error}")
    return synced


def ledger_summary(db_url: str, device_id: str) -> dict[str, Any]:
    """What the ledger's own database holds: transfers, this device's sales, reconciliation."""
    from sqlalchemy import func, select

    from sync.ledger.reports import reconcile
    from sync.ledger.storage import open_engine
    from sync.ledger.tables import sales, transfers

    engine = open_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                "transactions": conn.scalar(select(func.count()).select_from(transfers)),
                "sales": dict(
                    conn.execute(
                        select(sales.c.sale_id, sales.c.status).where(
                            sales.c.device_id == device_id
                        )
                    ).all()
                ),
                "reconcile": reconcile(conn, device_id),
            }
    finally:
        engine.dispose()


def run_journey(setup: DemoSetup) -> dict[str, Any]:
    """The scripted journey; raises DemoFailed at the first step that did not happen."""
    kiosk = setup.kiosk
    steps = setup.steps
    steps.append(buy(setup, "face", expect_offline=False))
    steps.append(buy(setup, "customer_qr", expect_offline=False))
    show_fresh_token(setup)  # the phone refreshes its code while it still can
    port = int(setup.ledger.url.rsplit(":", 1)[1])
    setup.ledger.stop()
    say("ledger stopped: the kiosk is offline")
    steps.append(buy(setup, "face", expect_offline=True))
    steps.append(buy(setup, "customer_qr", expect_offline=True))
    queued_offline = [
        r.sale_id for r in kiosk.services.queue.records() if r.offline and r.state == "pending"
    ]
    if len(queued_offline) != 2:
        raise DemoFailed(f"expected 2 queued offline sales, the queue holds {queued_offline}")
    say("offline sales queued", count=len(queued_offline))
    issuer = token_issuer(setup.data_dir / "ledger")
    template_key = setup.data_dir / "ledger" / TEMPLATE_KEY
    setup.ledger = start_ledger(setup.ledger_db_url, issuer, port, setup.admin_token, template_key)
    say("ledger back", url=setup.ledger.url)
    synced = drain(setup)
    left = kiosk.services.queue.status().backlog_count
    say("queue synced", synced=synced, left=left)
    summary = ledger_summary(setup.ledger_db_url, setup.device_id)
    return _verdict(setup, synced, left, summary)


def _verdict(setup: DemoSetup, synced: int, left: int, summary: dict[str, Any]) -> dict[str, Any]:
    steps = setup.steps
    sales_in_ledger = {sale for sale, status in summary["sales"].items() if status == "accepted"}
    recorded = {s["sale_id"] for s in steps}
    problems = []
    if left:
        problems.append(f"{left} sales still queued")
    if not recorded <= sales_in_ledger:
        problems.append(f"sales missing from the ledger: {sorted(recorded - sales_in_ledger)}")
    return {
        "approved": len(steps),
        "approved_online": sum(not s["offline"] for s in steps),
        "queued_offline": sum(s["offline"] for s in steps),
        "synced": synced,
        "ledger_transactions": summary["transactions"],
        "ledger_sales": len(sales_in_ledger & recorded),
        "reconcile": summary["reconcile"],
        "device_id": setup.device_id,
        "customer_id": setup.customer_id,
        "steps": steps,
        "problems": problems,
        "ok": not problems,
    }


def run_scripted(data_dir: Path | None, port: int, as_json: bool) -> int:
    """`smilepay demo --scripted`: exit 0 only if every step happened for real."""
    from base.logs import configure_logging

    configure_logging("demo", "WARNING", sys.stderr)
    with ExitStack() as stack:
        root = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        result = _run_scripted(stack, root, port)
    print(json.dumps(result) if as_json else _human(result))
    return 0 if result["ok"] else 1


def _run_scripted(stack: ExitStack, root: Path, port: int) -> dict[str, Any]:
    started = time.monotonic()
    setup = set_up(stack, root, port)
    setup.world.start()
    stack.callback(setup.world.stop)
    setup.kiosk.start()
    stack.callback(setup.kiosk.stop)
    try:
        result = run_journey(setup)
    except (DemoFailed, TimeoutError, SmilepayError) as exc:
        result = {"ok": False, "error": str(exc), "steps": setup.steps}
    finally:
        stack.callback(lambda: setup.ledger.stop())
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _human(result: dict[str, Any]) -> str:
    lines = [f"{s['step']}: sale {s['sale_id']} ({s['amount_minor']})" for s in result["steps"]]
    verdict = "ok" if result["ok"] else f"FAILED: {result.get('error') or result['problems']}"
    return "\n".join([*lines, verdict])


# --- the interactive demo -----------------------------------------------------------------------


def run_interactive(data_dir: Path | None, port: int, as_json: bool = False) -> int:
    """`smilepay demo`: the kiosk with its screen on `port`, a live ledger and sync agent, and a
    simulated customer who smiles or shows a QR when the screen asks. Runs until Ctrl-C. With
    `as_json`, once ready it prints one JSON line saying where everything is (see ready_line)."""
    import secrets
    import signal
    import threading

    from base.logs import configure_logging
    from device.screen.enrol import kiosk_enrolment
    from device.screen.forget import kiosk_forget
    from device.screen.server import create_screen_app
    from device.screen.serving import serve_screen_in_thread

    # With --json, stdout carries only the ready line; the JSON logs go to stderr.
    configure_logging("demo", "INFO", sys.stderr if as_json else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        root = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        setup = set_up(stack, root, port)
        operator_pin = f"{secrets.randbelow(10**6):06d}"
        enrolment, forget = kiosk_enrolment(setup.kiosk), kiosk_forget(setup.kiosk)
        if enrolment is not None and forget is not None:
            # The simulated customer faces the camera while the screen asks for a face.
            setup.world.wants_face = lambda: (
                enrolment.state.step == "capture" or forget.state.step == "identify"
            )
        app = create_screen_app(
            setup.kiosk, setup.config.screen, operator_pin, enrolment=enrolment, forget=forget
        )
        screen = serve_screen_in_thread(app, setup.config.screen.host, port)
        stack.callback(screen.stop)
        _start_background(stack, setup)
        pos = _start_terminal(stack, setup)
        ready = {"ready": True, **ready_line(setup, screen, operator_pin), **pos}
        say("demo kiosk ready", screen=ready["screen_url"], operator=ready["operator_url"])
        say("operator PIN", operator_pin=operator_pin)
        say("point of sale", pos_url=ready["pos_url"], pos_key_file=ready["pos_key_file"])
        say("a simulated customer smiles or shows a QR code whenever the screen asks; Ctrl-C ends")
        if as_json:
            print(json.dumps(ready), flush=True)
        with suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def ready_line(setup: DemoSetup, screen: Any, operator_pin: str) -> dict[str, Any]:
    """Where the running demo's parts are: the screen's launch URL (with its secret), the
    operator page and PIN, the ledger's URL and database, and its admin token file."""
    ledger_dir = setup.data_dir / "ledger"
    return {
        "screen_url": screen.launch_url,
        "operator_url": f"{screen.url}/operator",
        "operator_pin": operator_pin,
        "ledger_url": setup.ledger.url,
        "ledger_db": setup.ledger_db_url,
        "admin_token_file": str(admin_token_file(ledger_dir)),
        "data_dir": str(setup.data_dir),
        "device_id": setup.device_id,
        "customer_id": setup.customer_id,
    }


def admin_token_file(ledger_dir: Path) -> Path:
    """The demo ledger's operator token file (0600 beside its database), made if missing."""
    import os
    import secrets

    path = ledger_dir / "admin.token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path


def _start_terminal(stack: ExitStack, setup: DemoSetup) -> dict[str, str]:
    """The terminal API for a POS (the demo's key file plays the cash register's)."""
    from device.terminal.service import start_terminal

    server = start_terminal(stack, setup.kiosk, setup.config.terminal)
    key_file = setup.config.secret_path(DEMO_POS_KEY)
    return {"pos_url": server.url, "pos_key_file": str(key_file)}


def _start_background(stack: ExitStack, setup: DemoSetup) -> None:
    """The simulated world, the kiosk, and the sync agent (a thread here, a service on a Pi)."""
    import threading

    from device.sync_service import LazyGallery
    from sync.agent.agent import SyncAgent
    from sync.agent.device_identity import DeviceIdentity
    from sync.agent.trigger import SyncTrigger
    from sync.queue.deletion_outbox import DeletionOutbox
    from sync.queue.enrolment_outbox import EnrolmentOutbox

    setup.world.start()
    stack.callback(setup.world.stop)
    setup.kiosk.start()
    stack.callback(setup.kiosk.stop)
    data_dir = setup.config.device.data_dir
    identity = DeviceIdentity.load(data_dir)
    trigger = SyncTrigger(data_dir)
    client = stack.enter_context(setup.kiosk.services.new_ledger_client())

    def run_agent() -> None:
        # The outboxes' SQLite connections belong to the thread that uses them.
        outbox = EnrolmentOutbox.open(data_dir / "gallery.db")
        deletions = DeletionOutbox.open(data_dir / "gallery.db")
        try:
            SyncAgent(
                setup.kiosk.services.queue,
                client,
                identity.key,
                setup.config.sync,
                gallery=LazyGallery(data_dir, setup.config),  # screen enrolments go up
                outbox=outbox,
                deletions=deletions,
                trigger=trigger,
            ).run()
        finally:
            outbox.close()
            deletions.close()

    thread = threading.Thread(target=run_agent, name="sync-agent", daemon=True)
    thread.start()
    stack.callback(thread.join, timeout=10)
    stack.callback(trigger.stop)
