"""An ESC/POS receipt printer through python-escpos (serial, USB or network backend).

Before each receipt the printer is asked for its state (DLE EOT 1: online, DLE EOT 4: paper).
A printer that is off, unplugged, out of paper or silent is reported through the returned
PrinterStatus and logged; nothing here raises to the caller, so a sale is never blocked by the
printer. The connection is reopened on the next receipt after a failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from escpos.constants import RT_STATUS_ONLINE, RT_STATUS_PAPER
from escpos.escpos import Escpos
from escpos.printer import Network, Serial, Usb, usb

from drivers.loading import DriverUnavailable
from drivers.printer.base import PrinterStatus, Receipt
from drivers.printer.config import (
    NetworkPrinterConfig,
    SerialPrinterConfig,
    UsbPrinterConfig,
)
from drivers.printer.receipt_layout import DEFAULT_WIDTH, write_receipt

log = logging.getLogger(__name__)
STATUS_TIMEOUT_S = 0.5
WRITE_TIMEOUT_S = 5.0
OFFLINE_BIT = 0x08  # DLE EOT 1: bit 3 set while the printer is off line (cover open, error)
PAPER_END_BITS = 0x60  # DLE EOT 4: bits 5-6, the roll paper end sensor
PAPER_NEAR_END_BITS = 0x0C  # DLE EOT 4: bits 2-3, the near-end sensor


class StatusSerial(Serial):
    """escpos's Serial, reading status replies byte by byte (its 16-byte read waits for the
    whole timeout) and with a write timeout, so a stalled printer cannot hang a receipt."""

    def open(self, raise_not_found: bool = True) -> None:
        """Open the port and bound writes."""
        super().open(raise_not_found)
        if self.device:
            self.device.write_timeout = WRITE_TIMEOUT_S

    def close(self) -> None:
        """Close the port; a vanished device cannot be flushed, so forget it instead."""
        try:
            super().close()
        except Exception:  # termios.error / OSError from flushing an unplugged port
            self._device = False

    def _read(self) -> bytes:
        assert self.device
        data: bytes = self.device.read(1)
        return data


def serial_backend(config: SerialPrinterConfig) -> Escpos:
    """An opened serial backend (hardware flow control off: many cables lack DSR/DTR)."""
    backend = StatusSerial(
        devfile=config.port, baudrate=config.baud, timeout=STATUS_TIMEOUT_S, dsrdtr=False
    )
    backend.open()
    return backend


def usb_backend(config: UsbPrinterConfig) -> Escpos:
    """An opened USB backend (needs pyusb and access to the device node)."""
    backend = Usb(config.vendor_id, config.product_id, timeout=int(WRITE_TIMEOUT_S * 1000))
    backend.open()
    return backend


def network_backend(config: NetworkPrinterConfig) -> Escpos:
    """An opened raw TCP backend (port 9100)."""
    backend = Network(config.host, port=config.port, timeout=WRITE_TIMEOUT_S)
    backend.open()
    return backend


def decode_status(online_reply: bytes, paper_reply: bytes) -> PrinterStatus:
    """The printer state from its DLE EOT 1 and DLE EOT 4 replies (no reply: offline)."""
    if not online_reply or online_reply[0] & OFFLINE_BIT:
        return PrinterStatus.OFFLINE
    if paper_reply and paper_reply[0] & PAPER_END_BITS == PAPER_END_BITS:
        return PrinterStatus.PAPER_OUT
    return PrinterStatus.READY


Connector = Callable[[], Escpos]
ConfigWithBackend = SerialPrinterConfig | UsbPrinterConfig | NetworkPrinterConfig


class EscposPrinter:
    """ReceiptPrinter over a python-escpos backend; never raises for a printer problem."""

    def __init__(self, connect: Connector, name: str, width: int = DEFAULT_WIDTH) -> None:
        self.name = name
        self.width = width
        self._connect = connect
        self._backend: Escpos | None = None
        self.printed: list[Receipt] = []  # receipts sent in full, for the operator and scenarios

    @classmethod
    def from_config(cls, config: ConfigWithBackend) -> EscposPrinter:
        """Build from the `printer` config section (connects on the first receipt)."""
        if isinstance(config, SerialPrinterConfig):
            return cls(lambda: serial_backend(config), f"serial {config.port}")
        if isinstance(config, UsbPrinterConfig):
            if not usb.is_usable():  # checked before any Usb object exists: its __del__ raises
                raise DriverUnavailable("USB printers need pyusb: pip install 'python-escpos[usb]'")
            name = f"usb {config.vendor_id:04x}:{config.product_id:04x}"
            return cls(lambda: usb_backend(config), name)
        return cls(lambda: network_backend(config), f"network {config.host}:{config.port}")

    def status(self) -> PrinterStatus:
        """Ask the printer for its state; OFFLINE when it cannot be reached or does not answer."""
        try:
            backend = self._backend or self._open()
            online = backend.query_status(RT_STATUS_ONLINE)
            paper = backend.query_status(RT_STATUS_PAPER) if online else b""
        except Exception as exc:  # any backend failure means the same thing: not reachable
            return self._failed("status query failed", exc)
        state = decode_status(online, paper)
        if paper and paper[0] & PAPER_NEAR_END_BITS == PAPER_NEAR_END_BITS:
            log.warning("printer paper is running out", extra={"printer": self.name})
        return state

    def print_receipt(self, receipt: Receipt) -> PrinterStatus:
        """Print if the printer is ready; return its status (never raises)."""
        state = self.status()
        if state != PrinterStatus.READY or self._backend is None:
            log.warning(
                "receipt not printed",
                extra={"printer": self.name, "sale_id": receipt.sale_id, "status": str(state)},
            )
            return state
        try:
            write_receipt(self._backend, receipt, self.width)
        except Exception as exc:  # a printer failing mid-receipt must not fail the sale
            return self._failed(f"printing sale {receipt.sale_id} failed", exc)
        self.printed.append(receipt)
        log.info("receipt printed", extra={"printer": self.name, "sale_id": receipt.sale_id})
        return PrinterStatus.READY

    def close(self) -> None:
        """Release the connection; safe to call twice."""
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception as exc:  # already gone: nothing left to release
                log.debug("printer close failed", extra={"printer": self.name, "reason": str(exc)})

    def _open(self) -> Escpos:
        self._backend = self._connect()
        return self._backend

    def _failed(self, what: str, exc: Exception) -> PrinterStatus:
        log.warning(what, extra={"printer": self.name, "reason": f"{type(exc).__name__}: {exc}"})
        self.close()
        return PrinterStatus.OFFLINE
