"""The world a scenario runs in: a real ledger behind a cuttable network link, a registered
device, an enrolled and funded customer, and for each scenario a freshly assembled Kiosk on the
rig's drivers (real where the kiosk env names a device, simulators elsewhere).

Physical acts on real devices (present a code, pull a cable, take the paper out) are asked of
the person at the rig; with simulators the rig does them itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from device.app import Kiosk, KioskDrivers
from device.config import KioskConfig
from drivers.hil.env import KioskEnv
from drivers.hil.netcut import NetworkLink
from drivers.indicator.base import Light
from drivers.printer.base import Receipt

Ask = Callable[[str], None]


@dataclass
class RigWorld:
    """What outlives one scenario: ledger, link, device identity, customer, demo faces."""

    config: KioskConfig
    ledger: Any  # sync.ledger.server.RunningServer
    link: NetworkLink
    customer_id: str
    token: str
    face_frames: list[Any]
    # A fresh customer token (each pays once), minted by the ledger behind the link's back.
    mint_token: Callable[[], str] | None = None
    # SMILEPAY_SLOWDOWN, as in the demo: under emulation the kiosk's own work takes 10-30x
    # longer, so its work timeouts stretch (the scenario steps' waits stretch with it).
    slowdown: float = 1.0


@contextlib.contextmanager
def rig_world(root: Path) -> Iterator[RigWorld]:
    """Start the ledger and the link, register the device, enroll and fund the customer."""
    from device import demo
    from models.demo_faces import demo_sequence
    from models.engine import FaceEngine
    from sync.agent.device_identity import init_device

    ledger_dir, device_dir = root / "ledger", root / "device"
    ledger_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        issuer = demo.token_issuer(ledger_dir)
        admin = demo.admin_token(ledger_dir)
        ledger = demo.start_ledger(f"sqlite:///{ledger_dir / 'ledger.db'}", issuer, 0, admin)
        stack.callback(ledger.stop)
        host, port = ledger.url.removeprefix("http://").rsplit(":", 1)
        link = NetworkLink(host, int(port))
        stack.callback(link.close)
        code = demo.registration_code(ledger.url, admin)
        identity = init_device(
            device_dir, link.url, name="smilepay scenario kiosk", registration_token=code
        )
        slowdown = demo.demo_slowdown()
        config = demo.demo_config(device_dir, link.url, 0, slowdown=slowdown)
        engine = FaceEngine.load(config.face)
        customer_id = demo.enroll_demo_customer(config, engine, identity.device_id)
        demo.create_customer(ledger.url, customer_id, config.device.currency, admin)
        demo.install_issuer_public_key(config, issuer)
        token = demo.customer_token(ledger.url, customer_id, admin)
        frames = demo_sequence(config.face.model_dir, engine)

        def mint_token() -> str:
            return demo.customer_token(ledger.url, customer_id, admin)

        yield RigWorld(config, ledger, link, customer_id, token, frames, mint_token, slowdown)


def rig_drivers(env: KioskEnv) -> KioskDrivers:
    """Each role's real driver from the env, else its simulator (not yet opened or started)."""
    from drivers.camera import open_camera
    from drivers.camera.synthetic import SyntheticCamera
    from drivers.indicator import open_indicator
    from drivers.indicator.simulated import SimulatedIndicator
    from drivers.printer import open_printer
    from drivers.printer.simulated import SimulatedPrinter
    from drivers.scanner import open_scanner
    from drivers.scanner.simulated import SimulatedScanner

    def pick(role: str, opener: Callable[[Any], Any], simulator: Callable[[], Any]) -> Any:
        section = env.real(role)
        return opener(section) if section is not None else simulator()

    return KioskDrivers(
        camera=pick("camera", open_camera, SyntheticCamera),
        scanner=pick("scanner", open_scanner, SimulatedScanner),
        printer=pick("printer", open_printer, SimulatedPrinter),
        indicator=pick("indicator", open_indicator, SimulatedIndicator),
    )


def nobody_there(instruction: str) -> None:
    """The default operator: there is none, so a physical act cannot happen."""
    raise NotOnThisRig(f"needs a person at the rig to {instruction}")


class NotOnThisRig(Exception):
    """The scenario needs a physical act and nobody is at the rig to do it."""


class KioskRig:
    """One assembled, running kiosk and the world around it (implements ScenarioTarget)."""

    def __init__(self, world: RigWorld, env: KioskEnv, ask: Ask = nobody_there) -> None:
        from device.assembly import open_services
        from device.demo_world import DemoWorld

        self.world, self.env, self.ask = world, env, ask
        self.drivers = rig_drivers(env)
        self.kiosk = Kiosk(world.config, self.drivers, open_services(world.config))
        if world.slowdown != 1.0:
            from device.demo import stretched_timeouts

            timeouts = stretched_timeouts(world.slowdown)
            self.kiosk.state = replace(self.kiosk.state, timeouts=timeouts)
        self.scene = None
        if env.real("camera") is None:
            self.scene = DemoWorld(
                self.drivers.camera, lambda: self.kiosk.state.phase, world.face_frames
            )
            self.scene.customer_present = False

    def __enter__(self) -> KioskRig:
        if self.scene is not None:
            self.scene.start()
        self.kiosk.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kiosk.stop()
        if self.scene is not None:
            self.scene.stop()
        self.world.link.up()
        for closable in (self.kiosk.services.queue, self.kiosk.services.gallery):
            with contextlib.suppress(Exception):
                closable.close()

    # --- the world's acts ----------------------------------------------------------------------

    def customer(self, action: str) -> None:
        """The customer arrives (looks at the screen, smiles when asked) or leaves."""
        if self.scene is None:
            self.ask("have the enrolled customer step up" if action == "arrives" else "step away")
            return
        self.scene.customer_present = action == "arrives"

    def scan(self, code: bytes) -> None:
        """A code is presented to the scanner; `{customer_token}` stands for the enrolled
        customer's signed token, which the ledger issued for this run."""
        if b"{customer_token}" in code and self.world.mint_token is not None:
            self.world.token = self.world.mint_token()  # each token pays once
        code = code.replace(b"{customer_token}", self.world.token.encode())
        if self.env.real("scanner") is not None:
            self.ask(f"scan the test card that reads {code.decode()!r}")
            return
        self.drivers.scanner.present(code)

    def network(self, state: str) -> None:
        """Cut or restore the kiosk's link to the ledger (software on every rig)."""
        (self.world.link.down if state == "down" else self.world.link.up)()

    def camera(self, state: str) -> None:
        """Unplug or plug back the camera."""
        if self.env.real("camera") is not None:
            self.ask("unplug the camera" if state == "unplugged" else "plug the camera back in")
            return
        camera = self.drivers.camera
        (camera.unplug if state == "unplugged" else camera.replug)()

    def printer(self, state: str) -> None:
        """Change the printer's paper or power."""
        if self.env.real("printer") is not None:
            self.ask(PRINTER_ACTS[state])
            return
        printer: Any = self.drivers.printer
        if state in ("paper_out", "paper_in"):
            printer.set_paper_out(state == "paper_out")
        else:
            printer.set_offline(state == "off")

    # --- observations --------------------------------------------------------------------------

    def light(self) -> Light:
        """What the light shows (read back from the pins on a real indicator)."""
        indicator: Any = self.drivers.indicator
        shown: Light = indicator.lit() if hasattr(indicator, "lit") else indicator.color
        return shown

    def printed(self) -> list[Receipt]:
        """Receipts printed in full during this scenario."""
        printer: Any = self.drivers.printer
        receipts: list[Receipt] = list(printer.printed)
        return receipts


PRINTER_ACTS = {
    "paper_out": "take the paper roll out of the printer",
    "paper_in": "put the paper roll back",
    "off": "switch the printer off",
    "on": "switch the printer on",
}
