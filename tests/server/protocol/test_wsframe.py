"""Our WebSocket frame reader: splitting, unmasking, fragments, and errors after good frames."""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, TextMessage

from server.protocol.errors import PayloadTooLarge, ProtocolError, RemoteProtocolError
from server.protocol.wsframe import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_TEXT,
    FrameReader,
    encode_client_frame,
    encode_frame,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)), max_size=8),
    st.integers(min_value=1, max_value=64),
)
def test_masked_frames_from_wsproto_client_split_anywhere(messages, chunk):
    """Frames built by wsproto (an implementation we did not write) parse back, however cut."""
    client = Connection(ConnectionType.CLIENT)
    wire = b"".join(
        client.send(TextMessage(data=m) if isinstance(m, str) else BytesMessage(data=m))
        for m in messages
    )
    reader = FrameReader(masked=True)
    got = []
    for i in range(0, len(wire), chunk):
        got.extend(payload for _, payload in reader.feed(wire[i : i + chunk]))
    assert got == messages


def test_fragmented_message_and_control_frames_in_between():
    mask = os.urandom(4)
    first = bytearray(encode_client_frame("hel", mask))
    first[0] &= 0x7F  # FIN off: a fragment
    ping = encode_client_frame(b"p", mask, OPCODE_PING)
    last = bytearray(encode_client_frame("lo", mask))
    last[0] = (last[0] & 0xF0) | 0x0  # continuation, FIN on
    frames = FrameReader(masked=True).feed(bytes(first) + ping + bytes(last))
    assert frames == [(OPCODE_PING, b"p"), (OPCODE_TEXT, "hello")]


def test_good_frames_before_a_violation_are_returned_and_the_error_kept():
    mask = os.urandom(4)
    reader = FrameReader(masked=True, max_message=100)
    data = encode_client_frame("ok", mask) + encode_client_frame("x" * 200, mask)
    assert reader.feed(data) == [(OPCODE_TEXT, "ok")]
    assert isinstance(reader.error, PayloadTooLarge)
    with pytest.raises(PayloadTooLarge):
        reader.feed(b"")


@pytest.mark.parametrize(
    "frame",
    [
        encode_frame("unmasked from a client"),  # a client must mask
        bytes([0x81 | 0x40, 0x80]) + b"\0\0\0\0",  # RSV1 without an extension
        bytes([0x83, 0x80]) + b"\0\0\0\0",  # unknown opcode 3
        bytes([0x09, 0x80]) + b"\0\0\0\0",  # fragmented ping
        bytes([0x80, 0x80]) + b"\0\0\0\0",  # continuation with nothing to continue
        encode_client_frame(b"\xff\xfe", b"abcd", OPCODE_TEXT),  # text that is not UTF-8
    ],
)
def test_violations_raise_the_protocol_error_family(frame):
    with pytest.raises(RemoteProtocolError):
        FrameReader(masked=True).feed(frame)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_errors(data):
    for masked in (True, False):
        with contextlib.suppress(ProtocolError):
            FrameReader(masked=masked, max_message=1000).feed(data)


def test_close_frame_carries_code_and_reason():
    frame = encode_client_frame((1001).to_bytes(2, "big") + b"bye", b"\1\2\3\4", OPCODE_CLOSE)
    assert FrameReader(masked=True).feed(frame) == [(OPCODE_CLOSE, (1001, "bye"))]
    assert FrameReader(masked=False).feed(encode_frame(b"\x01")) == [(OPCODE_BINARY, b"\x01")]
