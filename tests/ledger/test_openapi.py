"""schemathesis against /openapi.json on the real server: whatever it generates, the ledger
never answers 5xx, and every refusal is a 4xx that says why. Device operations are tried twice:
as generated (unsigned: refused) and signed by a registered kiosk, so the generated bodies reach
the code behind the signature check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from base import wire
from sync.ledger.kiosk import Kiosk
from sync.ledger.openapi import openapi_document
from tests.ledger.conftest import LedgerUnderTest


@pytest.fixture(scope="module")
def signer(ledger: LedgerUnderTest) -> Iterator[Kiosk]:
    kiosk = ledger.kiosk()
    yield kiosk
    kiosk.close()


# Collected from the document itself; the same document is what the server serves.
OPERATIONS = {
    result.ok().label: result.ok()  # type: ignore[union-attr]
    for result in schemathesis.openapi.from_dict(openapi_document()).get_all_operations()
}
EXAMPLES = 5  # per operation, mode and backend: modest, for CI


def _can_be_made_invalid(label: str) -> bool:
    """Negative generation needs a body, query or header to break (not just a free string)."""
    method, path = label.split(" ", 1)
    definition = openapi_document()["paths"][path][method.lower()]
    places = {parameter["in"] for parameter in definition.get("parameters", [])}
    return "requestBody" in definition or bool(places & {"query", "header"})


CASES = [
    (label, mode)
    for label in sorted(OPERATIONS)
    for mode in schemathesis.GenerationMode
    if mode == schemathesis.GenerationMode.POSITIVE or _can_be_made_invalid(label)
]


def assert_well_refused(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        answer = response.json()
        assert answer["error"] and answer["reason"], f"{what}: {answer}"


def signed_call(case: Any, ledger: LedgerUnderTest, kiosk: Kiosk) -> httpx.Response:
    """Send the generated request as `kiosk`, with a valid signature over its exact body."""
    case.path_parameters = {**case.path_parameters, "device_id": kiosk.device_id}
    path = case.formatted_path
    body = body_bytes(case)
    headers = wire.sign_request(kiosk.device_id, kiosk.key, case.method, path, body)
    headers["Content-Type"] = "application/json"
    return kiosk.http.request(
        case.method, f"{ledger.url}{path}", params=case.query, content=body, headers=headers
    )


def body_bytes(case: Any) -> bytes:
    if case.method == "GET" or not isinstance(case.body, dict | list | str | int | bool):
        return b""
    return json.dumps(case.body).encode()


def test_the_server_serves_this_document(ledger: LedgerUnderTest) -> None:
    assert httpx.get(f"{ledger.url}/openapi.json").json() == openapi_document()


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{m.value}-{lbl}" for lbl, m in CASES])
def test_no_generated_request_gets_a_server_error(
    label: str, mode: schemathesis.GenerationMode, ledger: LedgerUnderTest, signer: Kiosk
) -> None:
    operation = OPERATIONS[label]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case: Any) -> None:
        response = case.call(base_url=ledger.url)
        assert_well_refused(response, f"{case.method} {case.formatted_path}")
        if "device_id" in (case.path_parameters or {}):
            signed = signed_call(case, ledger, signer)
            assert_well_refused(signed, f"signed {case.method} {case.formatted_path}")

    try:
        check()
    except Unsatisfiable:
        pytest.skip(f"schemathesis cannot make an invalid request for {label}")
