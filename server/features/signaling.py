"""WebRTC signaling: relay offers, answers and ICE candidates between peers of a room.

The server is a switchboard, never a party to the session: it does not
parse SDP or candidates (only checks they are present and not huge), relays
each message only to the addressed peer (by socket id) with `from` added,
and refuses a message to a peer that is not in a room with the sender —
a silent drop would leave a caller waiting for an answer forever.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from server.features.arguments import arg, identifier, mapping
from server.hub import EventError, Socket

if TYPE_CHECKING:
    from server.app import ReferenceServer

MAX_SIGNAL_BYTES = 64 * 1024
# RTC rooms one connection may be in at once
MAX_ROOMS_PER_SOCKET = 100
RELAYED = {"rtc-offer": "sdp", "rtc-answer": "sdp", "rtc-ice-candidate": "candidate"}


def install(server: ReferenceServer) -> Signaling:
    signaling = Signaling(server)
    hub = server.hub
    hub.on("rtc-join")(signaling.on_join)
    hub.on("rtc-leave")(signaling.on_leave)
    for event in RELAYED:
        hub.on(event)(signaling.relay_handler(event))
    hub.on_disconnect(signaling.on_disconnect)
    return signaling


class Signaling:
    def __init__(self, server: ReferenceServer) -> None:
        self.hub = server.hub

    async def on_join(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        room_id = identifier(arg(args, 0, "roomId"), "roomId")
        room = rtc_room(room_id)
        peers = [m.sid for m in sock.namespace.members(room) if m is not sock]
        if room not in sock.rooms:
            if sum(1 for r in sock.rooms if r.startswith("rtc:")) >= MAX_ROOMS_PER_SOCKET:
                raise EventError(
                    "rate_limited",
                    f"a connection may be in at most {MAX_ROOMS_PER_SOCKET} RTC rooms:"
                    " leave one first",
                )
            sock.join(room)
            self.hub.emit_to_room(sock.namespace, room, "rtc-peer-joined", _peer(sock), skip=sock)
        return {"roomId": room_id, "peerId": sock.sid, "peers": peers}

    async def on_leave(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        room_id = identifier(arg(args, 0, "roomId"), "roomId")
        room = rtc_room(room_id)
        if room not in sock.rooms:
            raise EventError("not_found", f"not in RTC room {room_id!r}")
        self._leave(sock, room)
        return {"roomId": room_id}

    def relay_handler(self, event: str) -> Any:
        field = RELAYED[event]

        async def relay(sock: Socket, args: list[Any]) -> dict[str, Any]:
            body = mapping(arg(args, 0, "signal"), "signal")
            to = identifier(body.get("to"), "to")
            payload = body.get(field)
            if payload is None:
                raise EventError("bad_request", f"{event} needs {field!r}")
            if len(json.dumps(payload)) > MAX_SIGNAL_BYTES:
                raise EventError("too_large", f"{field} exceeds {MAX_SIGNAL_BYTES} bytes")
            target = sock.namespace.sockets.get(to)
            rtc_rooms = {r for r in sock.rooms if r.startswith("rtc:")}
            if target is None or not (rtc_rooms & target.rooms):
                raise EventError("not_found", f"peer {to!r} is not in an RTC room with you")
            target.emit(event, {**body, "from": sock.sid})
            return {"to": to}

        return relay

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        for room in [r for r in sock.rooms if r.startswith("rtc:")]:
            self._leave(sock, room)

    def _leave(self, sock: Socket, room: str) -> None:
        sock.leave(room)
        self.hub.emit_to_room(sock.namespace, room, "rtc-peer-left", _peer(sock))


def _peer(sock: Socket) -> dict[str, Any]:
    peer: dict[str, Any] = {"peerId": sock.sid}
    if sock.user_id is not None:
        peer["userId"] = sock.user_id
    return peer


def rtc_room(room_id: str) -> str:
    return f"rtc:{room_id}"
