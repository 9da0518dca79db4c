"""Customer screen settings."""

from pathlib import Path
from typing import Annotated

from pydantic import Field

from base.settings import Section


class ScreenConfig(Section):
    """Where the kiosk serves its screen, and in which languages."""

    host: str = "127.0.0.1"
    port: int = 8080
    # Languages on offer, the first is the default (each needs a table in static/strings.json).
    languages: tuple[Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")], ...] = (
        "en",
        "zh",
    )
    operator_pin_file: Path | None = None
    # Host names the kiosk's own browser may use to reach the screen (besides `host`, the
    # loopback names and this port): anything else is refused (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    # Where the kiosk writes the URL its own browser must open (it carries the per-boot screen
    # secret); put it on a tmpfs (/run/...) so each boot gets a new secret. None: not written
    # (the demo and tests hand the URL over themselves).
    launch_url_file: Path | None = None
    # Self-service enrolment: the idle screen offers "enrol your face" and any customer at the
    # kiosk may enrol. Off by default: enrolment is then operator-assisted only (from the
    # operator page, after the operator PIN).
    self_enrolment: bool = False
