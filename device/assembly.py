"""Opens the configured drivers and the kiosk's services from its data directory."""

from __future__ import annotations

from device.app import KioskDrivers, KioskServices
from device.codes_input import load_issuer_key
from device.config import KioskConfig, required_hardware
from drivers.camera import open_camera
from drivers.indicator import open_indicator
from drivers.printer import open_printer
from drivers.scanner import open_scanner


def open_drivers(config: KioskConfig) -> KioskDrivers:
    """Build each role's driver from its config section (lazy imports: only what is chosen);
    ConfigError if the config leaves a role unnamed."""
    hardware = required_hardware(config)
    return KioskDrivers(
        camera=open_camera(hardware.camera),
        scanner=open_scanner(hardware.scanner),
        printer=open_printer(hardware.printer),
        indicator=open_indicator(hardware.indicator),
    )


def open_services(config: KioskConfig) -> KioskServices:
    """Identity, queue, gallery, face engine and ledger client for the configured data dir.

    The models are loaded here, before the kiosk starts, so the first customer never waits.
    """
    from device.sync_service import open_queue
    from models.engine import FaceEngine
    from models.gallery import Gallery
    from models.session import SmileToPaySession
    from sync.agent.client import LedgerClient
    from sync.agent.device_identity import DeviceIdentity
    from sync.agent.step_up import LedgerStepUp
    from sync.agent.trigger import request_sync_now

    data_dir = config.device.data_dir
    identity = DeviceIdentity.load(data_dir)
    queue = open_queue(data_dir, identity, config)
    gallery = Gallery.open(
        data_dir / "gallery.db", config.secret_path(config.secrets.template_key_file)
    )
    engine = FaceEngine.load(config.face)

    def new_face_session(amount_minor: int, started_at: float) -> SmileToPaySession:
        return SmileToPaySession(engine, gallery, amount_minor, config.face, started_at)

    def new_ledger_client() -> LedgerClient:
        return LedgerClient(identity.ledger_url, identity.device_id, identity.key, config.sync)

    def new_probe_client() -> LedgerClient:
        # Short timeouts: a probe that hangs for the agent's 15 s would show "offline" late.
        quick = {"connect_timeout_s": 2.0, "read_timeout_s": 2.0, "request_timeout_s": 2.5}
        return LedgerClient(
            identity.ledger_url,
            identity.device_id,
            identity.key,
            config.sync.model_copy(update=quick),
        )

    def request_sync() -> None:
        request_sync_now(data_dir)

    return KioskServices(
        device_id=identity.device_id,
        queue=queue,
        gallery=LedgerStepUp(gallery, new_ledger_client),  # step-up secrets stay at the ledger
        new_face_session=new_face_session,
        new_ledger_client=new_ledger_client,
        issuer_key=load_issuer_key(config.secret_path(config.payments.token_issuer_key_file)),
        request_sync=request_sync,
        new_probe_client=new_probe_client,
        engine=engine,
    )
