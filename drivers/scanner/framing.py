"""Split a scanner's byte stream into code payloads: a pure state machine, no I/O, no clock.

`feed(state, chunk)` returns the new state and what was decoded: a `Decoded` payload for each
good frame and a `Rejected` (with its reason) for each bad one. `line_idle(state)` is called when
the line went quiet with a frame half-received; the partial frame is dropped.

Framings:
- "cr", "lf", "crlf": the payload ends with that terminator. CR and LF bytes before a payload
  are skipped (many scanners send CRLF when set to CR), so blank lines produce nothing.
- "length_prefix": a 2-byte big-endian payload length, then the payload.

Resynchronisation: an over-long frame is reported once, then skipped up to the next terminator
("cr"/"lf"/"crlf") or for its declared length ("length_prefix"). When the line goes quiet any
partial or skipped frame ends, so even a corrupted length costs only the frames sent before the
next pause. A bad payload of a valid length costs only that frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Framing = Literal["cr", "lf", "crlf", "length_prefix"]
TERMINATORS: dict[str, bytes] = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}
LENGTH_PREFIX_BYTES = 2
MAX_LENGTH_PREFIXED = 0xFFFF
BLANK = b"\r\n"


@dataclass(frozen=True)
class Decoded:
    """One complete, valid code payload (UTF-8 text without control characters)."""

    payload: bytes


@dataclass(frozen=True)
class Rejected:
    """A frame that was dropped, and why."""

    reason: str


Output = Decoded | Rejected


@dataclass(frozen=True)
class FramerState:
    """Where the framer is: the bytes of the frame in progress, or skipping a rejected one."""

    framing: Framing
    max_frame_bytes: int
    buffer: bytes = b""
    discarding: bool = False
    skip: int = 0  # length_prefix: bytes of an over-long frame still to skip


def new_framer(framing: Framing, max_frame_bytes: int) -> FramerState:
    """A framer at the start of the stream; raises ValueError for an unusable configuration."""
    if framing not in (*TERMINATORS, "length_prefix"):
        raise ValueError(f"unknown framing {framing!r}")
    if not 1 <= max_frame_bytes <= MAX_LENGTH_PREFIXED:
        raise ValueError(f"max_frame_bytes must be 1..{MAX_LENGTH_PREFIXED}, got {max_frame_bytes}")
    return FramerState(framing, max_frame_bytes)


def feed(state: FramerState, chunk: bytes) -> tuple[FramerState, list[Output]]:
    """Take the next bytes from the line; return the new state and the frames they completed."""
    if state.framing == "length_prefix":
        return _feed_length_prefixed(state, chunk)
    return _feed_terminated(state, chunk)


def line_idle(state: FramerState) -> tuple[FramerState, list[Output]]:
    """The line went quiet: drop a half-received frame (reported) and end any skipping."""
    pending = state.buffer
    reset = replace(state, buffer=b"", discarding=False, skip=0)
    if pending and not state.discarding:
        return reset, [
            Rejected(f"incomplete frame ({len(pending)} bytes) when the line went quiet")
        ]
    return reset, []


def check_payload(payload: bytes, max_frame_bytes: int) -> Output:
    """Accept a payload that is within the size cap, valid UTF-8 and free of control bytes."""
    if len(payload) > max_frame_bytes:
        return Rejected(f"frame of {len(payload)} bytes is over the {max_frame_bytes}-byte cap")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(f"invalid UTF-8 at byte {exc.start}")
    for index, char in enumerate(text):
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            return Rejected(f"control character U+{ord(char):04X} at character {index}")
    return Decoded(payload)


def _feed_terminated(state: FramerState, chunk: bytes) -> tuple[FramerState, list[Output]]:
    terminator = TERMINATORS[state.framing]
    buffer, discarding = state.buffer + chunk, state.discarding
    outputs: list[Output] = []
    while (end := buffer.find(terminator)) >= 0:
        frame, buffer = buffer[:end], buffer[end + len(terminator) :]
        if discarding:
            discarding = False  # the over-long frame ends here: resynchronised
            continue
        frame = frame.lstrip(BLANK)
        if frame:
            outputs.append(check_payload(frame, state.max_frame_bytes))
    # Keep a possible first half of a CRLF terminator while skipping.
    keep = len(terminator) - 1
    if not discarding:
        buffer = buffer.lstrip(BLANK)  # blank lines between frames are not part of a frame
    if not discarding and len(buffer) > state.max_frame_bytes + keep:
        outputs.append(Rejected(f"frame over the {state.max_frame_bytes}-byte cap: skipped"))
        discarding = True
    if discarding:
        buffer = buffer[len(buffer) - keep :] if keep else b""
    return replace(state, buffer=buffer, discarding=discarding), outputs


def _feed_length_prefixed(state: FramerState, chunk: bytes) -> tuple[FramerState, list[Output]]:
    skip = min(state.skip, len(chunk))  # the rest of an over-long frame: skipped, not kept
    buffer, outputs = state.buffer + chunk[skip:], list[Output]()
    state = replace(state, skip=state.skip - skip, discarding=state.skip - skip > 0)
    if state.discarding:
        return replace(state, buffer=b""), outputs
    while len(buffer) >= LENGTH_PREFIX_BYTES:
        length = int.from_bytes(buffer[:LENGTH_PREFIX_BYTES], "big")
        if length == 0:
            outputs.append(Rejected("zero-length frame"))
            buffer = buffer[LENGTH_PREFIX_BYTES:]
            continue
        end = LENGTH_PREFIX_BYTES + length
        if length > state.max_frame_bytes:
            reason = f"declared length {length} is over the {state.max_frame_bytes}-byte cap"
            outputs.append(Rejected(reason + ": skipped"))
            skipped, outputs_after = _feed_length_prefixed(
                replace(state, buffer=b"", skip=length), buffer[LENGTH_PREFIX_BYTES:]
            )
            return skipped, outputs + outputs_after
        if len(buffer) < end:
            break
        outputs.append(check_payload(buffer[LENGTH_PREFIX_BYTES:end], state.max_frame_bytes))
        buffer = buffer[end:]
    return replace(state, buffer=buffer), outputs


def encode_frame(payload: bytes, framing: Framing) -> bytes:
    """The bytes a scanner set to `framing` sends for `payload` (simulators and tests)."""
    if framing == "length_prefix":
        if len(payload) > MAX_LENGTH_PREFIXED:
            raise ValueError(f"payload of {len(payload)} bytes does not fit a 2-byte length")
        return len(payload).to_bytes(LENGTH_PREFIX_BYTES, "big") + payload
    return payload + TERMINATORS[framing]
