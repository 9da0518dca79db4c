"""LedgerClient against small real HTTP servers on loopback: timeouts, errors, signing, TLS pins.

The ledger itself is exercised in the end-to-end tests; these servers misbehave on purpose in
ways a real ledger would not do on demand (stall mid-body, answer garbage, wrong certificate).
"""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from base import wire
from sync.agent.client import (
    LedgerClient,
    LedgerRefused,
    LedgerUnavailable,
    PinMismatch,
    cert_sha256,
)
from sync.agent.config import SyncConfig

Behaviour = Callable[[http.server.BaseHTTPRequestHandler], None]


class Recorder:
    """What the test server saw."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


def _serve(behaviour: Behaviour, recorder: Recorder, tls: ssl.SSLContext | None = None) -> Any:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            recorder.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )
            behaviour(self)

        do_GET = do_POST = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[str, Recorder]]]:
    servers = []

    def start(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> tuple[str, Recorder]:
        recorder = Recorder()
        server = _serve(behaviour, recorder, tls)
        servers.append(server)
        scheme = "https" if tls else "http"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}", recorder

    yield start
    for server in servers:
        server.shutdown()


def answer(status: int, body: Any, raw: bytes | None = None) -> Behaviour:
    def behave(handler: http.server.BaseHTTPRequestHandler) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return behave


def quick_config(**overrides: Any) -> SyncConfig:
    values = {"connect_timeout_s": 1.0, "read_timeout_s": 0.3, "request_timeout_s": 1.0}
    return SyncConfig(**{**values, **overrides})


KEY = Ed25519PrivateKey.generate()


def test_every_device_request_carries_a_valid_signature_over_its_path_and_body(serve) -> None:
    # GIVEN a server that answers a gallery page
    url, seen = serve(answer(200, {"changes": [], "cursor": 0}))
    client = LedgerClient(url, "dev-1", KEY, quick_config())
    # WHEN the client asks for gallery changes (a GET with a query string)
    client.gallery_changes(cursor=7, limit=3)
    # THEN the request verifies with the device's public key over the path and its query
    request = seen.requests[0]
    assert request["path"] == "/v1/devices/dev-1/gallery?cursor=7&limit=3"
    headers = {k: v for k, v in request["headers"].items() if k.startswith("X-Smilepay")}
    problem = wire.verify_request(headers, KEY.public_key(), "GET", request["path"], b"")
    assert problem is None
    # AND not over another query (nobody on the way can change a parameter)
    changed = "/v1/devices/dev-1/gallery?cursor=0&limit=3"
    assert wire.verify_request(headers, KEY.public_key(), "GET", changed, b"") == "bad signature"


def test_a_server_that_never_answers_is_unavailable_after_the_read_timeout(serve) -> None:
    url, _ = serve(lambda handler: time.sleep(2))
    client = LedgerClient(url, "dev-1", KEY, quick_config())
    with pytest.raises(LedgerUnavailable, match="timed out"):
        client.get_config()


def test_a_body_dripped_slowly_is_cut_off_by_the_whole_request_limit(serve) -> None:
    # GIVEN a server that sends each byte just inside the read timeout, forever
    def drip(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.1)

    url, _ = serve(drip)
    client = LedgerClient(url, "dev-1", KEY, quick_config(request_timeout_s=0.6))
    # WHEN the client reads it THEN it gives up as unavailable, not after 100 s
    with pytest.raises(LedgerUnavailable):
        client.get_config()


def test_nothing_listening_is_unavailable() -> None:
    client = LedgerClient("http://127.0.0.1:9", "dev-1", KEY, quick_config())
    with pytest.raises(LedgerUnavailable):
        client.ledger_time()


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429, 409])
def test_server_errors_and_replayed_nonces_are_unavailable_so_the_agent_retries(
    serve, status: int
) -> None:
    url, _ = serve(answer(status, {"error": "x", "reason": "y"}))
    client = LedgerClient(url, "dev-1", KEY, quick_config())
    with pytest.raises(LedgerUnavailable, match=str(status)):
        client.send_batch([], "head")


def test_a_4xx_with_a_reason_is_a_refusal_naming_it(serve) -> None:
    url, _ = serve(answer(403, {"error": "revoked", "reason": "device dev-1 is revoked"}))
    client = LedgerClient(url, "dev-1", KEY, quick_config())
    with pytest.raises(LedgerRefused, match="device dev-1 is revoked") as caught:
        client.get_config()
    assert caught.value.status == 403 and caught.value.code == "revoked"


def test_a_garbled_success_answer_is_unavailable_not_applied(serve) -> None:
    url, _ = serve(answer(200, None, raw=b"<html>captive portal</html>"))
    client = LedgerClient(url, "dev-1", KEY, quick_config())
    with pytest.raises(LedgerUnavailable, match="not a JSON object"):
        client.send_batch([], "head")


def test_batch_answer_missing_fields_is_unavailable(serve) -> None:
    url, _ = serve(answer(200, {"results": [{"sale_id": "s"}]}))
    client = LedgerClient(url, "dev-1", KEY, quick_config())
    with pytest.raises(LedgerUnavailable, match="malformed"):
        client.send_batch([], "head")


def test_ledger_time_in_an_answer_becomes_a_clock_sample(serve) -> None:
    url, _ = serve(answer(200, {"limits": {}, "ledger_time_ms": 123}))
    client = LedgerClient(url, "dev-1", KEY, quick_config())
    client.get_config()
    assert client.last_clock_sample is not None
    assert client.last_clock_sample.ledger_ms == 123


def test_online_authorisation_uses_its_own_short_timeout(serve) -> None:
    # GIVEN a ledger that takes 1 s to answer, and a client whose normal read timeout is 5 s
    def slow_approval(handler: http.server.BaseHTTPRequestHandler) -> None:
        time.sleep(1.0)
        answer(200, {"status": "approved"})(handler)

    url, _ = serve(slow_approval)
    client = LedgerClient(url, "dev-1", KEY, quick_config(read_timeout_s=5, request_timeout_s=5))
    # WHEN the kiosk asks with a 0.2 s limit THEN it is unavailable (and falls back offline)
    with pytest.raises(LedgerUnavailable):
        client.authorize("sale-1", "cust-1", 500, "EUR", "face", timeout_s=0.2)


# --- TLS pinning ----------------------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    key = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ledger.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, None)
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_sha256(cert.public_bytes(serialization.Encoding.DER))


def test_tls_with_the_pinned_certificate_is_accepted(serve, tmp_path: Path) -> None:
    tls, pin = _self_signed(tmp_path)
    url, seen = serve(answer(200, {"ledger_time_ms": 1}), tls=tls)
    client = LedgerClient(url, "dev-1", KEY, quick_config(pinned_cert_sha256=pin.upper()))
    client.ledger_time()
    assert len(seen.requests) == 1


def test_tls_with_another_certificate_fails_before_any_request_is_sent(
    serve, tmp_path: Path
) -> None:
    # GIVEN a server whose certificate is not the pinned one
    tls, _ = _self_signed(tmp_path)
    url, seen = serve(answer(200, {"ledger_time_ms": 1}), tls=tls)
    client = LedgerClient(url, "dev-1", KEY, quick_config(pinned_cert_sha256="ab" * 32))
    # WHEN the client connects THEN the pin fails and the server never saw the signed request
    with pytest.raises(PinMismatch, match="not the pinned one"):
        client.get_config()
    assert seen.requests == []


def test_tls_without_a_pin_uses_ca_validation_and_rejects_a_self_signed_ledger(
    serve, tmp_path: Path
) -> None:
    tls, _ = _self_signed(tmp_path)
    url, _ = serve(answer(200, {"ledger_time_ms": 1}), tls=tls)
    client = LedgerClient(url, "dev-1", KEY, quick_config())
    with pytest.raises(LedgerUnavailable, match=r"SSL|certificate|Connect"):
        client.ledger_time()
