"""The kiosk's configuration: one TOML file validated with pydantic.

Each hardware role picks its driver by a `type` field. A role has no default: the kiosk refuses
to start until the config names a device (or, on a test rig, a simulator) for every role, so an
installed kiosk never runs on a simulated camera without saying so. Secrets (device key,
template key) are files referenced by path, never values in the TOML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from base.errors import ConfigError
from base.limits import OfflineLimits
from base.settings import Section, load_toml, validate_document
from device.catalogue import CatalogueConfig
from device.screen.config import ScreenConfig
from device.terminal.config import TerminalConfig
from drivers.camera.config import CameraConfig, SyntheticCameraConfig
from drivers.indicator.config import IndicatorConfig, SimulatedIndicatorConfig
from drivers.printer.config import PrinterConfig, SimulatedPrinterConfig
from drivers.scanner.config import ScannerConfig, SimulatedScannerConfig
from models.config import FaceConfig
from sync.agent.config import SyncConfig
from sync.queue.config import QueueConfig


def default_data_dir() -> Path:
    """The data directory used when config names none (must be on persistent storage)."""
    return Path("~/.local/share/smilepay/kiosk").expanduser()


class DeviceSection(Section):
    """Who this kiosk is and where it keeps its state."""

    data_dir: Path = Field(default_factory=default_data_dir)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    merchant_id: str = "demo-merchant"
    store_id: str = "demo-store"
    name: str = "Demo kiosk"
    # Where customers open their receipt: the printed QR is `<receipt_base_url>/r/<sale_id>`,
    # served by the ledger (or a proxy in front of it) on its public name. Not the kiosk's own
    # ledger URL, which may be a private address. Unset: receipts carry no link.
    receipt_base_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")


class PaymentsSection(Section):
    """How the kiosk's own payment QR is built, and whose customer tokens it trusts."""

    merchant_city: str = "Berlin"
    country_code: str = Field(default="DE", pattern=r"^[A-Z]{2}$")
    currency_numeric: str = Field(default="978", pattern=r"^[0-9]{3}$")
    merchant_category_code: str = Field(default="5499", pattern=r"^[0-9]{4}$")
    account_gui: str = "com.smilepay"
    # The ledger's customer-token issuer public key (base64 raw Ed25519), in a file; relative
    # paths are resolved against the data directory. Without it, customer tokens are refused.
    token_issuer_key_file: Path = Path("token_issuer.pub")


class SecretsSection(Section):
    """Paths of secret files; relative paths are resolved against the data directory."""

    device_key_file: Path = Path("keys/device_ed25519.key")
    template_key_file: Path = Path("keys/template_aes256.key")


class MetricsSection(Section):
    """`[metrics]`: where the kiosk serves Prometheus metrics (device.metrics), and the token a
    scraper must send as `Authorization: Bearer ...`. Off unless a port is set."""

    port: int | None = Field(default=None, ge=1, le=65535)
    host: str = "127.0.0.1"
    # Relative paths are resolved against the data directory; the file must be mode 0600.
    token_file: Path = Path("keys/metrics.token")


class KioskConfig(Section):
    """The whole kiosk configuration."""

    device: DeviceSection = DeviceSection()
    secrets: SecretsSection = SecretsSection()
    payments: PaymentsSection = PaymentsSection()
    # No defaults: see `required_hardware`.
    camera: CameraConfig | None = None
    scanner: ScannerConfig | None = None
    printer: PrinterConfig | None = None
    indicator: IndicatorConfig | None = None
    face: FaceConfig = FaceConfig()
    limits: OfflineLimits = OfflineLimits()
    queue: QueueConfig = QueueConfig()
    sync: SyncConfig = SyncConfig()
    screen: ScreenConfig = ScreenConfig()
    catalogue: CatalogueConfig = CatalogueConfig()
    terminal: TerminalConfig = TerminalConfig()
    metrics: MetricsSection = MetricsSection()

    def secret_path(self, path: Path) -> Path:
        """Resolve a secret's (or other data file's) path against the data directory."""
        return path if path.is_absolute() else self.device.data_dir / path


HARDWARE_ROLES = ("camera", "scanner", "printer", "indicator")
"""In the order a missing role is reported: the camera first."""

HOW_TO_NAME = {
    "camera": '[camera] type = "picamera2" (Raspberry Pi camera) or type = "opencv" with '
    "index = N (USB webcam, /dev/videoN)",
    "scanner": '[scanner] type = "serial" with port = "/dev/serial/by-id/..." '
    '(or type = "none" if the kiosk has no code scanner)',
    "printer": '[printer] type = "escpos_serial" with port = "...", "escpos_usb" with vendor_id '
    'and product_id, or "escpos_network" with host (or type = "none")',
    "indicator": '[indicator] type = "gpio" with red_pin, green_pin, blue_pin (BCM numbers) '
    '(or type = "none")',
}

SIMULATORS: dict[str, Any] = {
    "camera": SyntheticCameraConfig(type="synthetic"),
    "scanner": SimulatedScannerConfig(type="simulated"),
    "printer": SimulatedPrinterConfig(type="simulated"),
    "indicator": SimulatedIndicatorConfig(type="simulated"),
}
"""Each role's simulator config, for `smilepay demo` and test rigs (never a silent default)."""


@dataclass(frozen=True)
class HardwareConfig:
    """Every hardware role's config section, each one named in the kiosk's config."""

    camera: CameraConfig
    scanner: ScannerConfig
    printer: PrinterConfig
    indicator: IndicatorConfig


def required_hardware(config: KioskConfig, source: str = "config") -> HardwareConfig:
    """The config's hardware roles; ConfigError naming each missing role (camera first) and
    how to name it. A simulator counts only when the config names it (`type = "synthetic"`)."""
    missing = [role for role in HARDWARE_ROLES if getattr(config, role) is None]
    if missing:
        fixes = "; ".join(f"{role}: add {HOW_TO_NAME[role]}" for role in missing)
        raise ConfigError(
            f"{source}: no {missing[0]} configured (missing roles: {', '.join(missing)}). "
            f"The kiosk uses real hardware and needs every role named: {fixes}. "
            "`smilepay kiosk --check --config FILE` shows what each role finds"
        )
    return HardwareConfig(**{role: getattr(config, role) for role in HARDWARE_ROLES})


def simulated_hardware() -> HardwareConfig:
    """Every role on its simulator (the demo's and test rigs' hardware)."""
    return HardwareConfig(**SIMULATORS)


def parse_config(data: dict[str, Any], source: str = "config") -> KioskConfig:
    """Validate a parsed TOML document; raise ConfigError naming every bad key path."""
    return validate_document(KioskConfig, data, source)


def load_config(path: Path | None) -> KioskConfig:
    """Read and validate the TOML file at `path`; with no path, the defaults (which name no
    hardware: fine for the sync agent and model tools, refused by `smilepay kiosk`)."""
    if path is None:
        return KioskConfig()
    return load_toml(KioskConfig, path)


def face_settings(config_file: Path | None, model_dir: Path | None) -> tuple[FaceConfig, Path]:
    """(face config, template key file relative to the data dir) from a kiosk config file."""
    kiosk = load_config(config_file)
    face = kiosk.face
    if model_dir is not None:
        face = face.model_copy(update={"model_dir": model_dir})
    return face, kiosk.secrets.template_key_file
