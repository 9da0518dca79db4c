"""Sync agent settings."""

from pathlib import Path

from base.settings import Section


class SyncConfig(Section):
    """How the agent reaches the ledger and paces its batches."""

    ledger_url: str = "http://127.0.0.1:8700"
    batch_size: int = 500
    max_batch_bytes: int = 1_000_000
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    request_timeout_s: float = 15.0
    online_auth_timeout_s: float = 2.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0
    interval_s: float = 5.0
    pinned_cert_sha256: str | None = None  # TLS certificate pin for production
    ca_file: Path | None = None  # CA bundle for the ledger's TLS certificate (None: system CAs)
    gallery_page_size: int = 500
    clock_drift_alarm_s: float = 30.0  # |device clock - ledger clock| above this raises an alarm
    trigger_poll_s: float = 0.2  # how often a waiting agent looks for a "sync now" request
