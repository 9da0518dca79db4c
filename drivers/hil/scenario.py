"""Scenario scripts: short TOML files a test engineer can read, run against the assembled kiosk.

    name = "printer out of paper"
    story = "the sale goes through, nothing is printed, the light turns green"

    [[steps]]
    do = "printer"
    state = "paper_out"

    [[steps]]
    do = "add_item"
    name = "Sandwich"
    unit_minor = 1250

    [[steps]]
    do = "wait_for"
    phase = "approved"

Actions: add_item, pay, choose_payment, cancel, customer (arrives | leaves), scan (a code, as
bytes from the scanner), network (down | up), camera (unplugged | plugged), printer (paper_out |
paper_in | off | on). Checks: wait_for (a checkout phase), expect_light, expect_receipt,
expect_view (fields of the screen's view model). Checks wait up to `within_s` for the kiosk's
threads to catch up. The same script runs on simulators and, with --kiosk-env, on a Pi rig.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field

from base.settings import Section, load_toml
from device.checkout import Phase
from drivers.indicator.base import Light
from drivers.printer.base import Receipt

POLL_S = 0.05


class AddItem(Section):
    """Put an item in the basket."""

    do: Literal["add_item"]
    name: str
    quantity: int = Field(default=1, ge=1)
    unit_minor: int = Field(ge=0)


class Pay(Section):
    """Press pay."""

    do: Literal["pay"]


class ChoosePayment(Section):
    """Choose how to pay."""

    do: Literal["choose_payment"]
    method: Literal["face", "customer_qr", "merchant_qr"]


class CancelSale(Section):
    """Press cancel."""

    do: Literal["cancel"]


class CustomerAct(Section):
    """The customer steps up to the kiosk (looks, smiles when asked) or walks away."""

    do: Literal["customer"]
    action: Literal["arrives", "leaves"]


class Scan(Section):
    """A code is held under the scanner (text as the scanner sends it, UTF-8)."""

    do: Literal["scan"]
    code: str


class NetworkAct(Section):
    """The kiosk's network to the ledger drops or comes back."""

    do: Literal["network"]
    state: Literal["down", "up"]


class CameraAct(Section):
    """The camera is unplugged or plugged back in."""

    do: Literal["camera"]
    state: Literal["unplugged", "plugged"]


class PrinterAct(Section):
    """The printer runs out of paper, gets paper, is switched off or on."""

    do: Literal["printer"]
    state: Literal["paper_out", "paper_in", "off", "on"]


class WaitFor(Section):
    """The checkout reaches `phase` within `within_s`."""

    do: Literal["wait_for"]
    phase: Phase
    within_s: float = 15.0


class ExpectLight(Section):
    """The status light shows `light`."""

    do: Literal["expect_light"]
    light: Light
    within_s: float = 5.0


class ExpectReceipt(Section):
    """The current sale's receipt was printed (or, with printed = false, was not)."""

    do: Literal["expect_receipt"]
    printed: bool = True
    offline: bool | None = None
    total_minor: int | None = None
    within_s: float = 5.0


class ExpectView(Section):
    """The screen's view model has these field values (a subset; `notice_contains` for text)."""

    do: Literal["expect_view"]
    fields: dict[str, Any] = Field(default_factory=dict)
    notice_contains: str | None = None
    within_s: float = 5.0


Step = Annotated[
    AddItem
    | Pay
    | ChoosePayment
    | CancelSale
    | CustomerAct
    | Scan
    | NetworkAct
    | CameraAct
    | PrinterAct
    | WaitFor
    | ExpectLight
    | ExpectReceipt
    | ExpectView,
    Field(discriminator="do"),
]


class Scenario(Section):
    """One scripted customer story."""

    name: str
    story: str = ""
    steps: list[Step] = Field(min_length=1)


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; ConfigError names the file and the bad key's path."""
    return load_toml(Scenario, path, "scenario file")


class ScenarioTarget(Protocol):
    """What the runner drives: the assembled kiosk and the world around it."""

    kiosk: Any  # device.app.Kiosk (KioskPort plus wait_for and state)

    def customer(self, action: str) -> None:
        """The customer arrives or leaves."""

    def scan(self, code: bytes) -> None:
        """Present a code to the scanner."""

    def network(self, state: str) -> None:
        """Cut or restore the link to the ledger."""

    def camera(self, state: str) -> None:
        """Unplug or replug the camera."""

    def printer(self, state: str) -> None:
        """Change the printer's paper or power."""

    def light(self) -> Light:
        """What the status light shows."""
        ...

    def printed(self) -> list[Receipt]:
        """Receipts the printer printed, oldest first."""
        ...


class StepFailed(AssertionError):
    """A scenario step did not happen; the message names the scenario, the step and why."""


@dataclass
class StepRecord:
    """How one step went."""

    index: int
    do: str
    seconds: float


@dataclass
class ScenarioResult:
    """A scenario that ran to the end."""

    name: str
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Total time of all steps."""
        return round(sum(s.seconds for s in self.steps), 3)


def run_scenario(scenario: Scenario, target: ScenarioTarget) -> ScenarioResult:
    """Run every step in order; raise StepFailed at the first one that did not happen."""
    result = ScenarioResult(scenario.name)
    for index, step in enumerate(scenario.steps, start=1):
        started = time.monotonic()
        try:
            _run_step(step, target)
        except (TimeoutError, AssertionError) as exc:
            where = f"{scenario.name!r} step {index} ({_describe(step)})"
            raise StepFailed(f"{where}: {exc}") from exc
        result.steps.append(StepRecord(index, step.do, round(time.monotonic() - started, 3)))
    return result


def _describe(step: Section) -> str:
    return ", ".join(f"{k}={v}" for k, v in step.model_dump(exclude_defaults=True).items())


def _run_step(step: Section, target: ScenarioTarget) -> None:
    kiosk = target.kiosk
    actions: dict[type, Callable[[Any], None]] = {
        AddItem: lambda s: kiosk.add_item(s.name, s.quantity, s.unit_minor),
        Pay: lambda s: kiosk.pay(),
        ChoosePayment: lambda s: kiosk.choose_payment(s.method),
        CancelSale: lambda s: kiosk.cancel(),
        CustomerAct: lambda s: target.customer(s.action),
        Scan: lambda s: target.scan(s.code.encode("utf-8")),
        NetworkAct: lambda s: target.network(s.state),
        CameraAct: lambda s: target.camera(s.state),
        PrinterAct: lambda s: target.printer(s.state),
        WaitFor: lambda s: kiosk.wait_for(s.phase, s.within_s),
        ExpectLight: lambda s: _expect_light(s, target),
        ExpectReceipt: lambda s: _expect_receipt(s, target),
        ExpectView: lambda s: _expect_view(s, target),
    }
    actions[type(step)](step)


def eventually(check: Callable[[], str | None], within_s: float) -> None:
    """Poll `check` (None: satisfied, else what is wrong) until satisfied or time is up."""
    deadline = time.monotonic() + within_s
    while (problem := check()) is not None:
        if time.monotonic() >= deadline:
            raise AssertionError(f"after {within_s} s: {problem}")
        time.sleep(POLL_S)


def _expect_light(step: ExpectLight, target: ScenarioTarget) -> None:
    def check() -> str | None:
        shown = target.light()
        return None if shown == step.light else f"the light shows {shown.value}"

    eventually(check, step.within_s)


def _expect_receipt(step: ExpectReceipt, target: ScenarioTarget) -> None:
    sale_id = target.kiosk.state.sale_id

    def check() -> str | None:
        mine = [r for r in target.printed() if r.sale_id == sale_id]
        if not step.printed:
            return f"a receipt was printed for sale {sale_id}" if mine else None
        if not mine:
            return f"no receipt printed for sale {sale_id}"
        return _receipt_mismatch(step, mine[-1])

    eventually(check, step.within_s)
    if not step.printed:
        time.sleep(min(step.within_s, 1.0))  # give a wrongly queued print the chance to show
        if problem := check():
            raise AssertionError(problem)


def _receipt_mismatch(step: ExpectReceipt, receipt: Receipt) -> str | None:
    if step.offline is not None and receipt.offline != step.offline:
        return f"receipt says offline={receipt.offline}"
    if step.total_minor is not None and receipt.total_minor != step.total_minor:
        return f"receipt total is {receipt.total_minor}"
    return None


def _expect_view(step: ExpectView, target: ScenarioTarget) -> None:
    def check() -> str | None:
        view = target.kiosk.view()
        wrong = {k: view.get(k) for k, v in step.fields.items() if view.get(k) != v}
        notice = view.get("notice") or ""
        if step.notice_contains and step.notice_contains not in notice:
            wrong["notice"] = notice
        return f"view has {wrong}" if wrong else None

    eventually(check, step.within_s)
