"""Receipt printer driver selection: `printer.type` picks the driver."""

from typing import Annotated, Literal

from pydantic import Field

from base.settings import Section


class SerialPrinterConfig(Section):
    """ESC/POS printer on a serial port."""

    type: Literal["escpos_serial"]
    port: str
    baud: int = 19200


class UsbPrinterConfig(Section):
    """ESC/POS printer on USB (vendor and product id)."""

    type: Literal["escpos_usb"]
    vendor_id: int
    product_id: int


class NetworkPrinterConfig(Section):
    """ESC/POS printer on the network (raw TCP, usually port 9100)."""

    type: Literal["escpos_network"]
    host: str
    port: int = 9100


class SimulatedPrinterConfig(Section):
    """python-escpos `Dummy` backend: keeps the exact bytes for tests."""

    type: Literal["simulated"]


class NoPrinterConfig(Section):
    """No printer attached."""

    type: Literal["none"]


PrinterConfig = Annotated[
    SerialPrinterConfig
    | UsbPrinterConfig
    | NetworkPrinterConfig
    | SimulatedPrinterConfig
    | NoPrinterConfig,
    Field(discriminator="type"),
]
