"""The scanner framing state machine: examples of each rejection, and properties over any bytes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scanner.framing import (
    Decoded,
    FramerState,
    Framing,
    Output,
    Rejected,
    encode_frame,
    feed,
    line_idle,
    new_framer,
)

FRAMINGS: list[Framing] = ["cr", "lf", "crlf", "length_prefix"]
MAX = 64


def run(state: FramerState, *chunks: bytes) -> tuple[FramerState, list[Output]]:
    outputs: list[Output] = []
    for chunk in chunks:
        state, more = feed(state, chunk)
        outputs.extend(more)
    return state, outputs


def payloads_of(outputs: list[Output]) -> list[bytes]:
    return [out.payload for out in outputs if isinstance(out, Decoded)]


def reasons_of(outputs: list[Output]) -> list[str]:
    return [out.reason for out in outputs if isinstance(out, Rejected)]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


printable = (
    st.text(
        alphabet=st.characters(min_codepoint=0x20, blacklist_categories=("Cs", "Cc")),
        min_size=1,
        max_size=20,
    )
    .map(lambda t: t.encode("utf-8"))
    .filter(lambda b: 0 < len(b) <= MAX)
)


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_valid_frame_in_one_chunk_is_decoded(framing: Framing) -> None:
    # GIVEN a framer WHEN one encoded code arrives THEN exactly that payload comes out
    _, outputs = run(new_framer(framing, MAX), encode_frame(b"134567890123456789", framing))
    assert outputs == [Decoded(b"134567890123456789")]


@pytest.mark.parametrize("framing", FRAMINGS)
def test_invalid_utf8_is_rejected_and_the_next_frame_is_decoded(framing: Framing) -> None:
    # GIVEN a frame with a broken UTF-8 sequence followed by a good frame
    bad, good = encode_frame(b"AB\xc3(", framing), encode_frame(b"OK", framing)
    # WHEN both arrive
    _, outputs = run(new_framer(framing, MAX), bad + good)
    # THEN the first is rejected naming the byte, the second decoded
    assert outputs == [Rejected("invalid UTF-8 at byte 2"), Decoded(b"OK")]


@pytest.mark.parametrize("framing", FRAMINGS)
def test_control_bytes_are_rejected_with_their_position(framing: Framing) -> None:
    _, outputs = run(new_framer(framing, MAX), encode_frame(b"A\x00B", framing))
    assert outputs == [Rejected("control character U+0000 at character 1")]


@pytest.mark.parametrize("framing", ["cr", "lf", "crlf"])
def test_an_over_long_frame_is_reported_once_and_skipped_to_its_terminator(
    framing: Framing,
) -> None:
    # GIVEN 300 bytes without a terminator (cap 64), arriving in pieces, then a good frame
    framer = new_framer(framing, MAX)
    state, outputs = run(framer, *[b"X" * 30] * 10, encode_frame(b"tail", framing))
    state, more = run(state, encode_frame(b"GOOD", framing))
    # THEN one rejection, the rest of the long frame is skipped, the next frame is decoded
    assert reasons_of(outputs + more) == ["frame over the 64-byte cap: skipped"]
    assert payloads_of(outputs + more) == [b"GOOD"]
    assert len(state.buffer) <= MAX + 1


def test_a_declared_length_over_the_cap_skips_until_the_line_goes_quiet() -> None:
    state, outputs = run(new_framer("length_prefix", MAX), b"\x01\x00" + b"Z" * 40)
    assert reasons_of(outputs) == ["declared length 256 is over the 64-byte cap: skipped"]
    state, _ = run(state, encode_frame(b"LOST", "length_prefix"))  # still skipping
    state, quiet = line_idle(state)
    _, after = run(state, encode_frame(b"BACK", "length_prefix"))
    assert quiet == [] and after == [Decoded(b"BACK")]


def test_an_over_long_length_prefixed_frame_is_skipped_for_its_declared_length() -> None:
    frame = b"\x00\x50" + b"Z" * 0x50
    _, outputs = run(new_framer("length_prefix", MAX), frame[:30], frame[30:] + b"\x00\x02OK")
    assert outputs == [
        Rejected("declared length 80 is over the 64-byte cap: skipped"),
        Decoded(b"OK"),
    ]


def test_a_zero_length_prefix_is_rejected() -> None:
    _, outputs = run(
        new_framer("length_prefix", MAX), b"\x00\x00" + encode_frame(b"A", "length_prefix")
    )
    assert outputs == [Rejected("zero-length frame"), Decoded(b"A")]


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_half_received_frame_is_dropped_when_the_line_goes_quiet(framing: Framing) -> None:
    state, _ = run(new_framer(framing, MAX), encode_frame(b"HALF-A-CODE", framing)[:6])
    state, outputs = line_idle(state)
    assert outputs == [Rejected("incomplete frame (6 bytes) when the line went quiet")]
    assert state.buffer == b""


def test_blank_lines_between_frames_produce_nothing() -> None:
    _, outputs = run(new_framer("cr", MAX), b"\r\n\r\nA\r\n\nB\r")
    assert outputs == [Decoded(b"A"), Decoded(b"B")]


def test_an_unusable_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="max_frame_bytes"):
        new_framer("cr", 0)
    with pytest.raises(ValueError, match="unknown framing"):
        new_framer("stx", 10)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    framing=st.sampled_from(FRAMINGS),
    payloads=st.lists(printable, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_valid_frames_survive_any_chunking(
    framing: Framing, payloads: list[bytes], cuts: list[int]
) -> None:
    # GIVEN valid frames WHEN the line delivers them in arbitrary pieces THEN all come out in order
    stream = b"".join(encode_frame(p, framing) for p in payloads)
    _, outputs = run(new_framer(framing, MAX), *split(stream, cuts))
    assert outputs == [Decoded(p) for p in payloads]


@settings(max_examples=200, deadline=None)
@given(
    framing=st.sampled_from(FRAMINGS),
    garbage=st.binary(max_size=300),
    payloads=st.lists(printable, min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
    via_terminator=st.booleans(),
)
def test_after_any_garbage_the_framer_resynchronises(
    framing: Framing, garbage: bytes, payloads: list[bytes], cuts: list[int], via_terminator: bool
) -> None:
    # GIVEN any garbage on the line, ended by a terminator or by the line going quiet
    state, _ = run(new_framer(framing, MAX), *split(garbage, cuts))
    if via_terminator and framing != "length_prefix":
        state, _ = feed(state, encode_frame(b"", framing))
    else:
        state, _ = line_idle(state)
    # WHEN valid frames follow THEN every one of them is decoded exactly
    stream = b"".join(encode_frame(p, framing) for p in payloads)
    _, outputs = run(state, *split(stream, cuts))
    assert payloads_of(outputs)[-len(payloads) :] == payloads


@settings(max_examples=200, deadline=None)
@given(
    framing=st.sampled_from(FRAMINGS),
    chunks=st.lists(st.binary(max_size=200), max_size=10),
)
def test_any_bytes_yield_only_valid_payloads_and_a_bounded_buffer(
    framing: Framing, chunks: list[bytes]
) -> None:
    # GIVEN arbitrary bytes WHEN fed THEN every decoded payload is capped, UTF-8, control-free,
    # and the framer never holds more than one frame's worth of bytes
    state = new_framer(framing, MAX)
    for chunk in chunks:
        state, outputs = feed(state, chunk)
        assert len(state.buffer) <= MAX + 2
        for payload in payloads_of(outputs):
            text = payload.decode("utf-8")
            assert 0 < len(payload) <= MAX
            assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) < 0xA0 for c in text)
