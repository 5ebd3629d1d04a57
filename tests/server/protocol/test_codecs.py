"""The sans-io codec (server/protocol): round-trips, spec examples and garbage in.

Property tests (hypothesis) check that encode/decode are inverse for every
packet shape, and that arbitrary input makes the decoders raise only
`server.protocol.errors.ProtocolError` (anything else would escape the
transports' `except ProtocolError` and take a connection task down).
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.protocol import engineio, socketio, wsframe
from server.protocol.engineio import (
    RECORD_SEPARATOR,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)
from server.protocol.errors import (
    LocalProtocolError,
    PayloadTooLarge,
    ProtocolError,
    RemoteProtocolError,
)
from server.protocol.socketio import SioDecoder, SioPacket, SioType, decode_text, encode

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------- strategies

# Engine.IO text data never contains the record separator (it delimits polling records).
# wire text is UTF-8: no lone surrogates (category Cs), no record separator inside a record
NO_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
eio_text = st.text(
    st.characters(blacklist_characters=RECORD_SEPARATOR, blacklist_categories=NO_SURROGATES),
    max_size=60,
)
text_packets = st.builds(Packet, st.sampled_from(list(PacketType)), eio_text)
binary_packets = st.builds(Packet, st.just(PacketType.MESSAGE), st.binary(max_size=60))
any_packet = st.one_of(text_packets, binary_packets)

# JSON values as Python sees them after a round trip (no tuples, no NaN, str keys).
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


def text_of(part: str | bytes) -> str:
    """An encoded packet's text part (what a WebSocket text frame carries)."""
    assert isinstance(part, str), part
    return part


def _no_placeholder_keys(d: dict[str, Any]) -> bool:
    return "_placeholder" not in d


json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4).filter(_no_placeholder_keys),
    ),
    max_leaves=12,
)
# The same, with bytes allowed anywhere (for BINARY_EVENT / BINARY_ACK).
json_with_bytes = st.recursive(
    st.one_of(json_scalars, st.binary(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4).filter(_no_placeholder_keys),
    ),
    max_leaves=12,
)
namespaces = st.one_of(
    st.just("/"),
    st.just("/api/socket"),
    st.text(
        st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="/-_"),
        min_size=1,
        max_size=12,
    ).map(lambda s: "/" + s),
)
event_names = st.text(min_size=1, max_size=20)
ack_ids = st.integers(min_value=0, max_value=10**15 - 1)


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, list):
        return any(_has_bytes(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    return False


def _feed_all(parts: list[str | bytes]) -> SioPacket:
    decoder = SioDecoder()
    result = None
    for i, part in enumerate(parts):
        result = decoder.feed(part)
        if i < len(parts) - 1:
            assert result is None, "a packet came out before its attachments"
            assert decoder.expecting_binary
    assert result is not None
    assert not decoder.expecting_binary
    return result


# ------------------------------------------------------------------ Engine.IO


@FAST
@given(any_packet)
def test_engineio_packet_round_trip(packet: Packet) -> None:
    frame = encode_packet(packet)
    assert isinstance(frame, bytes) == packet.binary
    assert decode_packet(frame) == packet


@FAST
@given(st.lists(any_packet, min_size=1, max_size=8))
def test_engineio_payload_round_trip(packets: list[Packet]) -> None:
    payload = encode_payload(packets)
    assert isinstance(payload, str)
    assert payload.count(RECORD_SEPARATOR) == len(packets) - 1
    assert decode_payload(payload) == packets
    # POST bodies arrive as UTF-8 bytes
    assert decode_payload(payload.encode("utf-8")) == packets


def test_engineio_exact_forms() -> None:
    assert encode_packet(Packet(PacketType.MESSAGE, "hello")) == "4hello"
    assert encode_packet(Packet(PacketType.PING, "probe")) == "2probe"
    assert encode_packet(Packet(PacketType.MESSAGE, b"\x01\x02\x03")) == b"\x01\x02\x03"
    assert decode_packet("3") == Packet(PacketType.PONG, "")
    assert decode_packet("6") == Packet(PacketType.NOOP, "")
    # the spec's polling example: "4hello" RS "2" RS b<base64 of 01 02 03 04>
    payload = "4hello\x1e2\x1ebAQIDBA=="
    assert decode_payload(payload) == [
        Packet(PacketType.MESSAGE, "hello"),
        Packet(PacketType.PING, ""),
        Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04"),
    ]
    assert encode_payload(decode_payload(payload)) == payload
    with pytest.raises(LocalProtocolError):
        encode_packet(Packet(PacketType.PING, b"bin"))


def test_engineio_payload_limits_and_errors() -> None:
    with pytest.raises(PayloadTooLarge):
        decode_payload("4" + "x" * 100, max_payload=50)
    with pytest.raises(PayloadTooLarge):
        decode_payload(b"4" + b"x" * 100, max_payload=50)
    assert decode_payload("4" + "x" * 49, max_payload=50) == [Packet(PacketType.MESSAGE, "x" * 49)]
    for bad in ("", "9", "4a\x1e\x1e4b", "b!!notbase64", b"\xff\xfe", "\x1e"):
        with pytest.raises(RemoteProtocolError):
            decode_payload(bad)
    with pytest.raises(RemoteProtocolError):
        decode_packet("")
    with pytest.raises(RemoteProtocolError):
        decode_packet("x")


@FUZZ
@given(st.one_of(st.text(max_size=80), st.binary(max_size=80)))
def test_decode_packet_raises_only_protocol_errors(frame: str | bytes) -> None:
    try:
        packet = decode_packet(frame)
    except ProtocolError:
        return
    assert isinstance(packet, Packet)


@FUZZ
@given(
    st.one_of(
        st.text(max_size=80),
        st.binary(max_size=80),
        # records that look almost right: digits, 'b' prefixes and separators
        st.lists(
            st.one_of(st.text(max_size=10), st.binary(max_size=10).map(base64.b64encode)),
            max_size=5,
        ).map(
            lambda parts: RECORD_SEPARATOR.join(
                p if isinstance(p, str) else "b" + p.decode() for p in parts
            )
        ),
    ),
    st.one_of(st.none(), st.integers(min_value=0, max_value=100)),
)
def test_decode_payload_raises_only_protocol_errors(
    payload: str | bytes, max_payload: int | None
) -> None:
    try:
        packets = decode_payload(payload, max_payload)
    except ProtocolError:
        return
    assert packets and all(isinstance(p, Packet) for p in packets)


# ------------------------------------------------------------------ Socket.IO


@FAST
@given(
    namespaces, st.one_of(st.none(), st.dictionaries(st.text(max_size=8), json_values, max_size=4))
)
def test_connect_round_trip(namespace: str, auth: dict[str, Any] | None) -> None:
    packet = SioPacket(SioType.CONNECT, namespace, auth)
    parts = encode(packet)
    assert len(parts) == 1
    assert decode_text(text_of(parts[0])) == packet
    assert _feed_all(parts) == packet


@FAST
@given(namespaces)
def test_disconnect_round_trip(namespace: str) -> None:
    packet = SioPacket(SioType.DISCONNECT, namespace)
    [text] = encode(packet)
    assert decode_text(text_of(text)) == packet


@FAST
@given(namespaces, event_names, st.lists(json_values, max_size=4), st.one_of(st.none(), ack_ids))
def test_event_round_trip(namespace: str, event: str, args: list[Any], ack: int | None) -> None:
    packet = SioPacket(SioType.EVENT, namespace, [event, *args], ack)
    parts = encode(packet)
    assert len(parts) == 1
    assert decode_text(text_of(parts[0])) == packet
    assert _feed_all(parts) == packet
    # the server's one-encoding-per-broadcast fast path agrees with the general encoder
    assert socketio.encode_event_text(namespace, event, args, ack) == parts[0]


@FAST
@given(namespaces, st.lists(json_values, max_size=4), ack_ids)
def test_ack_round_trip(namespace: str, args: list[Any], ack: int) -> None:
    packet = SioPacket(SioType.ACK, namespace, args, ack)
    parts = encode(packet)
    assert decode_text(text_of(parts[0])) == packet
    assert _feed_all(parts) == packet


@FAST
@given(
    namespaces,
    st.one_of(st.text(max_size=20), st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
)
def test_connect_error_round_trip(namespace: str, data: Any) -> None:
    packet = SioPacket(SioType.CONNECT_ERROR, namespace, data)
    [text] = encode(packet)
    assert decode_text(text_of(text)) == packet


@FAST
@given(
    namespaces,
    event_names,
    st.lists(json_with_bytes, min_size=1, max_size=4).filter(_has_bytes),
    st.one_of(st.none(), ack_ids),
)
def test_binary_event_round_trip(
    namespace: str, event: str, args: list[Any], ack: int | None
) -> None:
    packet = SioPacket(SioType.EVENT, namespace, [event, *args], ack)
    parts = encode(packet)
    head = text_of(parts[0])
    assert head.startswith(f"5{len(parts) - 1}-")
    assert all(isinstance(p, bytes) for p in parts[1:])
    assert _feed_all(parts) == packet
    with pytest.raises(RemoteProtocolError):
        decode_text(head)  # a header announcing attachments needs the decoder


@FAST
@given(namespaces, st.lists(json_with_bytes, min_size=1, max_size=4).filter(_has_bytes), ack_ids)
def test_binary_ack_round_trip(namespace: str, args: list[Any], ack: int) -> None:
    packet = SioPacket(SioType.ACK, namespace, args, ack)
    parts = encode(packet)
    assert text_of(parts[0]).startswith(f"6{len(parts) - 1}-")
    assert _feed_all(parts) == packet


def test_nested_bytes_and_interleaved_packets() -> None:
    data = ["upload", {"files": [b"\x00\x01", {"deep": [b"", b"\xff" * 3]}]}, b"top"]
    packet = SioPacket(SioType.EVENT, "/api/socket", data, 7)
    parts = encode(packet)
    assert len(parts) == 5
    decoder = SioDecoder()
    assert decoder.feed(parts[0]) is None
    for part in parts[1:-1]:
        assert decoder.feed(part) is None
    assert decoder.feed(parts[-1]) == packet
    # the decoder is reusable: a plain event right after
    assert decoder.feed('2["next"]') == SioPacket(SioType.EVENT, "/", ["next"])


def test_spec_examples() -> None:
    """Byte strings taken from the Socket.IO v5 protocol description."""
    assert decode_text('2["hello",1]') == SioPacket(SioType.EVENT, "/", ["hello", 1])
    assert encode(SioPacket(SioType.EVENT, "/", ["hello", 1])) == ['2["hello",1]']
    assert decode_text('0/admin,{"token":"123"}') == SioPacket(
        SioType.CONNECT, "/admin", {"token": "123"}
    )
    assert encode(SioPacket(SioType.CONNECT, "/admin", {"token": "123"})) == [
        '0/admin,{"token":"123"}'
    ]
    assert decode_text("0") == SioPacket(SioType.CONNECT, "/", None)
    assert decode_text('0{"sid":"oSO0OpakMV_3jnilAAAA"}').data == {"sid": "oSO0OpakMV_3jnilAAAA"}
    assert decode_text("1/admin,") == SioPacket(SioType.DISCONNECT, "/admin")
    assert decode_text('2/admin,456["project:delete",123]') == SioPacket(
        SioType.EVENT, "/admin", ["project:delete", 123], 456
    )
    assert decode_text("3/admin,456[]") == SioPacket(SioType.ACK, "/admin", [], 456)
    assert encode(SioPacket(SioType.ACK, "/admin", [], 456)) == ["3/admin,456[]"]
    assert decode_text('4{"message":"Not authorized"}') == SioPacket(
        SioType.CONNECT_ERROR, "/", {"message": "Not authorized"}
    )
    decoder = SioDecoder()
    # over the wire: Engine.IO MESSAGE "4" + Socket.IO "51-...", then one binary message
    header = decode_packet('451-["hello",{"_placeholder":true,"num":0}]')
    assert header.type is PacketType.MESSAGE
    assert decoder.feed(header.data) is None
    attachment = decode_packet(b"\x01\x02\x03\x04")
    assert decoder.feed(attachment.data) == SioPacket(
        SioType.EVENT, "/", ["hello", b"\x01\x02\x03\x04"]
    )
    assert encode(SioPacket(SioType.EVENT, "/", ["hello", b"\x01\x02\x03\x04"])) == [
        '51-["hello",{"_placeholder":true,"num":0}]',
        b"\x01\x02\x03\x04",
    ]
    assert decoder.feed('61-/admin,456[{"_placeholder":true,"num":0}]') is None
    assert decoder.feed(b"\x03\x02\x01") == SioPacket(SioType.ACK, "/admin", [b"\x03\x02\x01"], 456)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7",
        "x",
        "2",  # EVENT without data
        "2{}",
        "2[]",
        "2[1]",
        '2["ok"',
        "2[NaN]",
        "2[Infinity]",
        "3[]",  # ACK without id
        "31{}",
        "1{}",  # DISCONNECT with data
        "0[1]",
        "4",
        '5-["a"]',
        '5x-["a"]',
        '599-["a"]',  # more attachments than allowed
        "2" + "1" * 16 + '["a"]',  # ack id too long
        "2" + "[" * 100_000,  # nesting beyond the recursion limit
        "2[" + "9" * 5000 + "]",  # integer beyond Python's int-string limit
    ],
)
def test_bad_socketio_text_is_rejected(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_text(text)
    with pytest.raises(RemoteProtocolError):
        SioDecoder().feed(text)


def test_decoder_state_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        SioDecoder().feed(b"unexpected binary")
    decoder = SioDecoder()
    assert decoder.feed('51-["a",{"_placeholder":true,"num":0}]') is None
    with pytest.raises(RemoteProtocolError):
        decoder.feed('2["text while binary is due"]')
    decoder = SioDecoder()
    assert decoder.feed('51-["a",{"_placeholder":true,"num":3}]') is None
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"x")  # placeholder refers to a missing attachment


def test_local_errors_on_impossible_packets() -> None:
    for packet in (
        SioPacket(SioType.EVENT, "/", []),
        SioPacket(SioType.EVENT, "/", [1, 2]),
        SioPacket(SioType.ACK, "/", ["no id"]),
        SioPacket(SioType.EVENT, "no-slash", ["e"]),
        SioPacket(SioType.EVENT, "/a,b", ["e"]),
        SioPacket(SioType.EVENT, "/", ["e", float("nan")]),
        SioPacket(SioType.EVENT, "/", ["e", object()]),
        SioPacket(SioType.EVENT, "/", ["e"], -1),
    ):
        with pytest.raises(LocalProtocolError):
            encode(packet)


sio_like_text = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda t, ns, ack, body: f"{t}{ns}{ack}{body}",
        st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "51-", "62-", "5-", "7"]),
        st.sampled_from(["", "/", "/admin,", "/x", ","]),
        st.sampled_from(["", "0", "12", "999999999999999999"]),
        st.one_of(
            st.text(max_size=30),
            json_with_bytes.map(
                lambda v: json.dumps(v, default=lambda b: {"_placeholder": True, "num": 0})
            ),
        ),
    ),
)


@FUZZ
@given(st.lists(st.one_of(sio_like_text, st.binary(max_size=20)), min_size=1, max_size=5))
def test_sio_decoder_raises_only_protocol_errors(messages: list[str | bytes]) -> None:
    decoder = SioDecoder()
    for message in messages:
        try:
            packet = decoder.feed(message)
        except ProtocolError:
            decoder = SioDecoder()  # the server closes the connection; start over
            continue
        if packet is not None:
            assert isinstance(packet, SioPacket)
            assert packet.type in (
                SioType.CONNECT,
                SioType.DISCONNECT,
                SioType.EVENT,
                SioType.ACK,
                SioType.CONNECT_ERROR,
            )


@FUZZ
@given(sio_like_text)
def test_decode_text_raises_only_protocol_errors(text: str) -> None:
    try:
        packet = decode_text(text)
    except ProtocolError:
        return
    assert isinstance(packet, SioPacket)


@FAST
@given(namespaces, event_names, st.lists(json_values, max_size=3))
def test_decoded_strings_can_be_sent_back(namespace: str, event: str, args: list[Any]) -> None:
    """Whatever decodes must be re-encodable to a UTF-8 WebSocket frame (the server relays it)."""
    packet = decode_text(socketio.encode_event_text(namespace, event, args))
    frame = wsframe.encode_frame("4" + text_of(encode(packet)[0]))
    assert frame[0] == 0x81


def test_lone_surrogate_escape_is_relayable() -> None:
    """`"\\ud800"` is valid JSON (JS's JSON.stringify emits it for lone surrogates).

    It decodes to a Python str that cannot be UTF-8 encoded; the server relays
    decoded values, so re-encoding must still give a valid text frame (or the
    decoder must refuse the packet with a ProtocolError). Today
    `wsframe.encode_frame` raises UnicodeEncodeError, which crashes the server.
    """
    try:
        packet = decode_text('2["send-message","r",{"text":"\\ud800"}]')
    except ProtocolError:
        return  # refusing it at the edge is an acceptable fix
    frame_text = socketio.encode_event_text("/", packet.event, packet.args)
    frame = wsframe.encode_frame("4" + frame_text)
    assert frame[0] == 0x81
    frame[2:].decode("utf-8")  # a text frame must carry valid UTF-8


# ------------------------------------------------------------------ WebSocket


def _parse_header(frame: bytes) -> tuple[int, int, int]:
    """(first byte, payload length, header size) of an unmasked server frame."""
    first, second = frame[0], frame[1]
    assert second & 0x80 == 0, "server frames are never masked"
    length = second & 0x7F
    if length == 126:
        return first, struct.unpack("!H", frame[2:4])[0], 4
    if length == 127:
        return first, struct.unpack("!Q", frame[2:10])[0], 10
    return first, length, 2


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_encode_frame_lengths(length: int, kind: str) -> None:
    payload: str | bytes = (
        "a" * length
        if kind == "text"
        else bytes(range(256)) * (length // 256) + bytes(length % 256)
    )
    frame = wsframe.encode_frame(payload)
    first, parsed_length, header = _parse_header(frame)
    assert first == 0x80 | (wsframe.OPCODE_TEXT if kind == "text" else wsframe.OPCODE_BINARY)
    assert parsed_length == length
    assert header == (2 if length < 126 else 4 if length < 65536 else 10)
    body = frame[header:]
    assert len(body) == length
    assert body == (payload.encode() if isinstance(payload, str) else payload)


def test_encode_frame_counts_utf8_bytes() -> None:
    frame = wsframe.encode_frame("é" * 63)  # 126 bytes: needs the 16-bit length
    first, length, header = _parse_header(frame)
    assert (first, length, header) == (0x81, 126, 4)


@FAST
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_encode_frame_parses_with_wsproto(payload: str | bytes) -> None:
    from wsproto.frame_protocol import FrameProtocol

    proto = FrameProtocol(client=True, extensions=[])
    proto.receive_bytes(wsframe.encode_frame(payload))
    frames = list(proto.received_frames())
    assert len(frames) == 1
    assert frames[0].payload == payload
    assert frames[0].message_finished


def test_module_exports() -> None:
    assert engineio.RECORD_SEPARATOR == "\x1e"
    assert issubclass(PayloadTooLarge, RemoteProtocolError)
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert issubclass(LocalProtocolError, ProtocolError)


def test_codec_refuses_numbers_that_cannot_be_sent_on():
    import pytest

    from server.protocol.errors import RemoteProtocolError
    from server.protocol.socketio import decode_text

    for text in ('2["x",1e999]', '2["x",-1E400]', '2["x",' + "9" * 400 + "]", '2["x",NaN]'):
        with pytest.raises(RemoteProtocolError):
            decode_text(text)
    # the same characters inside strings, and ordinary numbers, are fine
    assert decode_text('2["x","1e999",1.5e10,' + "7" * 300 + "]").data[1:3] == ["1e999", 1.5e10]
