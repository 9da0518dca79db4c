"""The operator's PIN: constant-time check, brute-force throttle, and short-lived sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from base.errors import ConfigError

FREE_ATTEMPTS = 5
FIRST_LOCKOUT_S = 30.0
MAX_LOCKOUT_S = 900.0
SESSION_S = 600.0


def read_operator_pin(path: Path) -> str:
    """Read the operator PIN from its file (first line, 4 to 12 digits)."""
    try:
        pin = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"screen.operator_pin_file: cannot read {path}: {exc}") from None
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ConfigError(f"screen.operator_pin_file: {path} must hold 4 to 12 digits")
    return pin


@dataclass(frozen=True)
class PinVerdict:
    """The outcome of one PIN attempt; `retry_after_s` is set while attempts are locked out."""

    ok: bool
    retry_after_s: float = 0.0


class PinGate:
    """Checks PINs in constant time; after FREE_ATTEMPTS failures in a row it locks out, each
    lockout twice as long as the last. One gate counts one client (see PinGates)."""

    def __init__(self, pin: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._digest = hashlib.sha256(pin.encode()).digest()
        self._clock = clock
        self._failures = 0
        self._locked_until = 0.0
        self._next_lockout_s = FIRST_LOCKOUT_S

    def attempt(self, pin: str) -> PinVerdict:
        """Check one attempt; while locked out the PIN is not even compared."""
        now = self._clock()
        if now < self._locked_until:
            return PinVerdict(False, self._locked_until - now)
        candidate = hashlib.sha256(pin.encode()).digest()
        if hmac.compare_digest(candidate, self._digest):
            self._failures = 0
            self._next_lockout_s = FIRST_LOCKOUT_S
            return PinVerdict(True)
        return self._fail(now)

    def retry_after_s(self) -> float:
        """Seconds of lock-out left (0: attempts are open)."""
        return max(self._locked_until - self._clock(), 0.0)

    def _fail(self, now: float) -> PinVerdict:
        self._failures += 1
        if self._failures < FREE_ATTEMPTS:
            return PinVerdict(False)
        self._failures = 0
        self._locked_until = now + self._next_lockout_s
        self._next_lockout_s = min(self._next_lockout_s * 2, MAX_LOCKOUT_S)
        return PinVerdict(False, self._locked_until - now)


MAX_CLIENTS = 1024


class PinGates:
    """One PinGate per client, so nobody can keep the store manager locked out by typing wrong
    PINs from another device; an unknown client starts with FREE_ATTEMPTS like everyone."""

    def __init__(self, pin: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._pin = pin
        self._clock = clock
        self._gates: dict[str, PinGate] = {}

    def attempt(self, client: str, pin: str) -> PinVerdict:
        """Check one attempt from `client`."""
        gate = self._gates.get(client)
        if gate is None:
            if len(self._gates) >= MAX_CLIENTS:  # bounded memory: forget the oldest client
                self._gates.pop(next(iter(self._gates)))
            gate = self._gates[client] = PinGate(self._pin, self._clock)
        return gate.attempt(pin)

    def retry_after_s(self, client: str) -> float:
        """How long `client` is still locked out (0: not locked)."""
        gate = self._gates.get(client)
        return 0.0 if gate is None else gate.retry_after_s()


class OperatorSessions:
    """Random session tokens handed out after a good PIN; they expire after SESSION_S."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def open(self) -> str:
        """A new session token."""
        token = secrets.token_urlsafe(32)
        self._expiry[token] = self._clock() + SESSION_S
        return token

    def close(self, token: str | None) -> None:
        """End the session (logout)."""
        if token is not None:
            self._expiry.pop(token, None)

    def valid(self, token: str | None) -> bool:
        """Whether `token` is a live session."""
        now = self._clock()
        self._expiry = {t: at for t, at in self._expiry.items() if at > now}
        return token is not None and token in self._expiry
