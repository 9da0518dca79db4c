"""The `[terminal]` section of the kiosk config: terminal mode and its POS-facing API."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from base.settings import Section

MethodName = Literal["face", "customer_qr", "merchant_qr"]
ALL_METHODS: tuple[MethodName, ...] = ("face", "customer_qr", "merchant_qr")


class TerminalConfig(Section):
    """The POS-facing terminal API, served whenever `pos_key_files` names at least one POS,
    and terminal mode (`enabled`): the POS sends the amount (and lines), the self-service
    catalogue is off. Without terminal mode a POS may still start payments on an idle kiosk.

    Each POS is authenticated by its own key file (`smilepay pos provision`), listed in
    `pos_key_files` (relative paths are resolved against the data directory). With `tls_cert_file`
    and `tls_key_file` the API is served over TLS; the POS pins the certificate's sha256.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8790, ge=0, le=65535)
    pos_key_files: list[Path] = Field(default_factory=list)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    methods: list[MethodName] = Field(default_factory=lambda: list(ALL_METHODS))
    payment_timeout_s: float = Field(default=180.0, gt=0, le=3600)
    ledger_timeout_s: float = Field(default=3.0, gt=0, le=60)

    @model_validator(mode="after")
    def _check(self) -> TerminalConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: give both or neither")
        if self.enabled and not self.pos_key_files:
            raise ValueError("terminal mode needs at least one POS key file in pos_key_files")
        if not self.methods:
            raise ValueError("methods: name at least one payment method")
        return self
