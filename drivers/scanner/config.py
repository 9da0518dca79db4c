"""Code scanner driver selection: `scanner.type` picks the driver."""

from typing import Annotated, Literal

from pydantic import Field

from base.settings import Section


class SerialScannerConfig(Section):
    """A serial 2D code scanner (USB CDC appears as /dev/ttyACM*)."""

    type: Literal["serial"]
    port: str
    baud: int = 9600
    framing: Literal["cr", "lf", "crlf", "length_prefix"] = "cr"
    timeout_s: float = 0.2
    max_frame_bytes: int = 1024


class SimulatedScannerConfig(Section):
    """An in-process scanner with a test-facing API (`present(payload)`)."""

    type: Literal["simulated"]


class NoScannerConfig(Section):
    """No scanner attached."""

    type: Literal["none"]


ScannerConfig = Annotated[
    SerialScannerConfig | SimulatedScannerConfig | NoScannerConfig, Field(discriminator="type")
]
