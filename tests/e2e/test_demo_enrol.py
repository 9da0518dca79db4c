"""In the interactive demo (`smilepay demo --json`) the simulated customer can enrol on the
screen (self-service, the demo's world faces the camera while it captures), and the demo's sync
agent uploads the enrolment to the demo ledger."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.timing import slow

JSON = {"Content-Type": "application/json"}


@pytest.mark.timeout(slow(300))
def test_the_demo_customer_enrols_on_the_screen_and_the_ledger_receives_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "device.cli", "demo", "--json", "--port", "0"]
    demo = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        ready = json.loads(demo.stdout.readline())
        screen = ready["screen_url"].split("/?")[0]
        admin = Path(ready["admin_token_file"]).read_text().strip()
        with httpx.Client(base_url=screen, follow_redirects=True, timeout=slow(30)) as http:
            http.get(ready["screen_url"])  # the kiosk's own browser
            # GIVEN the demo's idle screen offers self-service enrolment
            assert http.get("/screen.json").json()["self_enrolment"] is True
            # WHEN the customer starts, agrees, and faces the camera
            assert http.post("/api/enrol/start", headers=JSON).json()["step"] == "consent"
            http.post("/api/enrol/consent", json={"version": "face-consent-v1"})
            view = capture_until_done(http)
            # THEN three captures pass the gates; the customer skips the secret and confirms
            assert view["step"] == "step_up", view
            http.post("/api/enrol/step-up", json={"digits": None})
            done = http.post("/api/enrol/confirm", json={"name": "Demo Two"}).json()
            assert done["step"] == "done"
        # AND the demo's sync agent uploads it: the ledger holds the enrolment
        url = f"{ready['ledger_url']}/v1/customers/{done['customer_id']}"
        deadline = time.monotonic() + slow(30)
        enrolment = None
        while enrolment is None and time.monotonic() < deadline:
            answer = httpx.get(url, headers={"Authorization": f"Bearer {admin}"}, timeout=slow(10))
            enrolment = answer.json().get("enrolment") if answer.status_code == 200 else None
            time.sleep(0.2)
        assert enrolment is not None and enrolment["active"] is True
        assert enrolment["origin_device_id"] == ready["device_id"]
    finally:
        demo.terminate()
        demo.wait(timeout=slow(30))


def capture_until_done(http: httpx.Client) -> dict:
    deadline = time.monotonic() + slow(60)
    while True:
        view: dict = http.post("/api/enrol/capture", headers=JSON).json()
        if view.get("step") != "capture" or time.monotonic() > deadline:
            return view
        time.sleep(0.3)
