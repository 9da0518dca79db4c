"""Attacks with hostile input: huge bodies, huge evidence, items that do not add up, NUL and
control characters, deep nesting, bad headers and query values, a query changed after signing.
Each gets a 4xx with a reason (never a 500), costs no memory beyond the body limit, and a sale
the ledger rejects is answered `rejected` with its chain link kept, so it blocks nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from base import wire
from sync.ledger.reports import reconcile
from tests.redteam.conftest import Secured, dumps, raw_batch, refused, signed_sale, statuses
from tests.timing import slow


def test_a_body_over_the_limit_is_refused_before_it_is_read(secured: Secured) -> None:
    # GIVEN a client that declares 100 MB and sends only its headers
    host = urlsplit(secured.url)
    with socket.create_connection((host.hostname, host.port), timeout=slow(10)) as sock:
        sock.sendall(
            b"POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        # THEN the ledger answers 413 at once, without waiting for (or reading) the body
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413") and b"body_too_large" in answer


def read_answer(sock: socket.socket) -> bytes:
    """Read until the JSON body is complete (or the ledger closes the connection)."""
    answer = b""
    while not answer.endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_a_streamed_body_is_cut_off_at_the_limit(secured: Secured) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 100_000  # 4 MB in all, with no Content-Length

    answer = httpx.post(f"{secured.url}/v1/customers", content=chunks(), timeout=slow(30))
    assert answer.status_code == 413


def test_bad_content_length_and_huge_evidence_are_refused(secured: Secured) -> None:
    kiosk = secured.kiosk()
    customer = secured.customer(1000)
    big = signed_sale(kiosk, 100, customer, evidence={"blob": "A" * 10_000_000})
    refused(kiosk.post_batch([big]), 413, "body_too_large")
    kiosk.next_seq, kiosk.prev_hash = 1, wire.GENESIS_HASH
    # evidence within the body limit but past its own bounds: rejected, with the reason
    wide = signed_sale(kiosk, 100, customer, evidence={f"k{i}": "v" for i in range(40)})
    [(status, reason)] = statuses(kiosk.post_batch([wide]))
    assert status == "rejected" and "evidence must be an object of at most 16" in (reason or "")


def test_items_must_add_up_to_the_amount(secured: Secured) -> None:
    kiosk = secured.kiosk()
    customer = secured.customer(1000)
    gold = [{"name": "gold bar", "quantity": 1, "amount_minor": 9_999_999}]
    [(status, reason)] = statuses(kiosk.post_batch([signed_sale(kiosk, 100, customer, items=gold)]))
    assert status == "rejected" and "items add up to 9999999, not to amount_minor 100" in str(
        reason
    )
    assert secured.view(customer)["balance_minor"] == 1000


def test_nul_and_control_characters_are_refused_with_a_reason(secured: Secured) -> None:
    kiosk = secured.kiosk()
    records = [
        signed_sale(kiosk, 100, None, sale_id="a\x00b"),
        signed_sale(kiosk, 100, "c\x00d"),
        signed_sale(kiosk, 100, None, boot_id="boot\x00"),
        signed_sale(kiosk, 100, None, items=[{"name": "x\ny", "quantity": 1, "amount_minor": 100}]),
    ]
    result = statuses(kiosk.post_batch(records))
    assert [status for status, _ in result] == ["rejected"] * 4
    assert all((reason or "").startswith("malformed: ") for _, reason in result)
    with secured.operator() as op:
        answer = op.http.post("/v1/customers", json={"name": "Eve\x00", "currency": "EUR"})
    assert "name" in refused(answer, 400, "invalid_body")


def test_deep_nesting_bad_headers_and_bad_queries_are_400_or_401_never_500(
    secured: Secured,
) -> None:
    kiosk = secured.kiosk()
    deep = b'{"sales": ' + b"[" * 100_000 + b"]" * 100_000 + b', "head_signature": "x"}'
    assert "nested too deeply" in refused(raw_batch(kiosk, deep), 400, "invalid_batch")
    # a Unicode digit in the timestamp header
    path = f"/v1/devices/{kiosk.device_id}/config"
    headers = wire.sign_request(kiosk.device_id, kiosk.key, "GET", path, b"")
    headers[wire.HEADER_TIMESTAMP] = "\u00b2"
    raw = {k.encode(): v.encode("latin-1") for k, v in headers.items()}
    assert "ASCII digits" in refused(kiosk.http.get(path, headers=raw), 401)
    # ?cursor=² (signed, so it reaches the parameter check)
    assert "cursor" in refused(kiosk.get("/gallery?cursor=%C2%B2"), 400, "invalid_query")


def test_a_non_digit_content_length_is_a_400(secured: Secured) -> None:
    host = urlsplit(secured.url)
    with socket.create_connection((host.hostname, host.port), timeout=slow(10)) as sock:
        sock.sendall(b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n")
        answer = read_answer(sock)
    assert answer.split(b" ", 2)[1] in (b"400",)


def test_the_signature_covers_the_query_string(secured: Secured) -> None:
    kiosk = secured.kiosk()
    path = f"/v1/devices/{kiosk.device_id}/gallery"
    headers = wire.sign_request(kiosk.device_id, kiosk.key, "GET", f"{path}?cursor=0", b"")
    refused(kiosk.http.get(f"{path}?cursor=5", headers=headers), 401, "bad_request_signature")
    assert kiosk.get("/gallery?cursor=0").status_code == 200


def test_a_rejected_sale_does_not_block_the_sales_after_it(secured: Secured) -> None:
    # GIVEN a kiosk whose second sale is one the ledger must reject (items do not add up)
    customer = secured.customer(10_000)
    kiosk = secured.kiosk()
    bad_items = [{"name": "x", "quantity": 1, "amount_minor": 1}]
    first = [kiosk.sale(100, customer), signed_sale(kiosk, 100, customer, items=bad_items)]
    assert [s for s, _ in statuses(kiosk.post_batch(first))] == ["accepted", "rejected"]
    # WHEN the kiosk sends the sales after it in the next batch (linking to the rejected one)
    later = [kiosk.sale(100, customer) for _ in range(3)]
    # THEN they are booked: the chain verifies through the kept link, with no gap
    assert [s for s, _ in statuses(kiosk.post_batch(later))] == ["accepted"] * 3
    # AND sending the rejected one again says rejected again (not duplicate)
    assert statuses(kiosk.post_batch(first[1:]))[0][0] == "rejected"
    with secured.ledger.engine.connect() as conn:
        report = reconcile(conn, kiosk.device_id)["devices"][0]
    assert report["gaps"] == [] and report["chain_breaks"] == []
    assert [r["seq"] for r in report["rejected_sales"]] == [2]
    assert secured.view(customer)["balance_minor"] == 10_000 - 400


def test_hostile_bodies_on_every_operator_route_are_4xx(secured: Secured) -> None:
    with secured.operator() as op:
        for path in ("/v1/customers", "/v1/registration-codes", "/v1/customers/x/topups"):
            for body in (b"\x00", b"[" * 5000, b'{"name": "' + b"a" * 5000 + b'"}', dumps(None)):
                answer = op.http.post(path, content=body)
                assert 400 <= answer.status_code < 500, (path, body[:20], answer.text)
