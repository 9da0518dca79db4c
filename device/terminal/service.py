"""Starting the terminal API beside a running kiosk: its POS keys, stores, desks and server."""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import uvicorn

from base.errors import SmilepayError
from device.terminal import auth
from device.terminal.config import TerminalConfig
from device.terminal.events import EventLog
from device.terminal.payments import PaymentDesk
from device.terminal.refund_desk import RefundDesk
from device.terminal.server import API_VERSION, Terminal, create_terminal_app
from device.terminal.store import TerminalStore

log = logging.getLogger("smilepay.terminal")
START_TIMEOUT_S = 10.0


@dataclass
class TerminalServer:
    """A running terminal API: its URL and the objects behind it."""

    url: str
    terminal: Terminal
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(5)


def load_keys(kiosk: Any) -> dict[str, auth.PosKey]:
    """The POS keys named in `[terminal] pos_key_files`, by POS id."""
    config = kiosk.config
    keys = [auth.load_pos_key_file(config.secret_path(p)) for p in config.terminal.pos_key_files]
    return {key.pos_id: key for key in keys}


def open_refund_queue(kiosk: Any) -> Any:
    """The kiosk's refund queue (beside its sale queue, signed with the same device key)."""
    from sync.agent.device_identity import DeviceIdentity
    from sync.queue.refunds import RefundQueue

    data_dir = kiosk.config.device.data_dir
    identity = DeviceIdentity.load(data_dir)
    return RefundQueue.open(
        data_dir, identity.device_id, identity.key, lambda: kiosk.services.queue.limits
    )


def start_terminal(
    stack: ExitStack, kiosk: Any, config: TerminalConfig, port: int | None = None
) -> TerminalServer:
    """Open the terminal's stores and desks on `kiosk` and serve the API; all of it stops when
    `stack` closes (the server first)."""
    data_dir = kiosk.config.device.data_dir
    store = TerminalStore.open(data_dir)
    stack.callback(store.close)
    events = EventLog()
    payments = PaymentDesk(
        kiosk,
        store,
        events,
        list(config.methods),
        kiosk.config.device.currency,
        config.payment_timeout_s,
    )
    payments.start()
    stack.callback(payments.close)
    refund_queue = open_refund_queue(kiosk)
    stack.callback(refund_queue.close)
    refunds = RefundDesk(
        kiosk,
        refund_queue,
        kiosk.services.new_ledger_client,
        store,
        kiosk.config.device.currency,
        config.ledger_timeout_s,
        kiosk.config.sync.interval_s,
    )
    refunds.start()
    stack.callback(refunds.close)
    kiosk.refund_desk = refunds  # the operator page's refund action uses it
    info = {
        "api_version": API_VERSION,
        "device_id": kiosk.services.device_id,
        "name": kiosk.config.device.name,
        "merchant_id": kiosk.config.device.merchant_id,
        "currency": kiosk.config.device.currency,
        "methods": list(config.methods),
    }
    terminal = Terminal(load_keys(kiosk), store, payments, refunds, events, info)
    if config.tls_cert_file is not None and config.tls_key_file is not None:
        resolve = kiosk.config.secret_path
        config = config.model_copy(
            update={
                "tls_cert_file": resolve(config.tls_cert_file),
                "tls_key_file": resolve(config.tls_key_file),
            }
        )
    server = serve_terminal(terminal, config, config.port if port is None else port)
    stack.callback(server.stop)
    log.info("terminal API ready", extra={"url": server.url, "pos": sorted(terminal.keys)})
    return server


def serve_terminal(terminal: Terminal, config: TerminalConfig, port: int) -> TerminalServer:
    """Serve the API on config.host:port (0: any free port), over TLS when configured."""
    sock = socket.socket(
        socket.AF_INET6 if ":" in config.host else socket.AF_INET,
        socket.SOCK_STREAM,
        socket.IPPROTO_TCP,
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, port))
    except OSError as exc:
        sock.close()
        raise SmilepayError(f"terminal: cannot listen on {config.host}:{port}: {exc}") from None
    tls = config.tls_cert_file is not None
    uv_config = uvicorn.Config(
        create_terminal_app(terminal),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        ssl_certfile=str(config.tls_cert_file) if tls else None,
        ssl_keyfile=str(config.tls_key_file) if tls else None,
    )
    server = uvicorn.Server(uv_config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="terminal-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SmilepayError("terminal: the API server did not start (see the log)")
        time.sleep(0.01)
    host = f"[{config.host}]" if ":" in config.host else config.host
    scheme = "https" if tls else "http"
    return TerminalServer(f"{scheme}://{host}:{sock.getsockname()[1]}", terminal, server, thread)
