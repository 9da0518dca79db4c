"""The kiosk's configuration: one TOML file validated with pydantic; no file means demo defaults.

Each hardware role picks its driver by a `type` field. Secrets (device key, template key) are
files referenced by path, never values in the TOML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from base.limits import OfflineLimits
from base.settings import Section, load_toml, validate_document
from device.catalogue import CatalogueConfig
from device.screen.config import ScreenConfig
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


class KioskConfig(Section):
    """The whole kiosk configuration."""

    device: DeviceSection = DeviceSection()
    secrets: SecretsSection = SecretsSection()
    payments: PaymentsSection = PaymentsSection()
    camera: CameraConfig = SyntheticCameraConfig(type="synthetic")
    scanner: ScannerConfig = SimulatedScannerConfig(type="simulated")
    printer: PrinterConfig = SimulatedPrinterConfig(type="simulated")
    indicator: IndicatorConfig = SimulatedIndicatorConfig(type="simulated")
    face: FaceConfig = FaceConfig()
    limits: OfflineLimits = OfflineLimits()
    queue: QueueConfig = QueueConfig()
    sync: SyncConfig = SyncConfig()
    screen: ScreenConfig = ScreenConfig()
    catalogue: CatalogueConfig = CatalogueConfig()

    def secret_path(self, path: Path) -> Path:
        """Resolve a secret's (or other data file's) path against the data directory."""
        return path if path.is_absolute() else self.device.data_dir / path


def parse_config(data: dict[str, Any], source: str = "config") -> KioskConfig:
    """Validate a parsed TOML document; raise ConfigError naming every bad key path."""
    return validate_document(KioskConfig, data, source)


def load_config(path: Path | None) -> KioskConfig:
    """Read and validate the TOML file at `path`; with no path, return the demo defaults."""
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
