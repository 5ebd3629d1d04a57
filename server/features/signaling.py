"""WebRTC signaling: relay offers, answers and ICE candidates between peers of a room.

The server is a switchboard, never a party to the session: it does not
parse SDP or candidates (the catalogue only checks they are present and not
huge), relays each message only to the addressed peer (by socket id) with
`from` added, and refuses a message to a peer that is not in a room with the
sender — a silent drop would leave a caller waiting for an answer forever.
"""

from __future__ import annotations

from server.catalogue import (
    RoomReply,
    RtcAnswer,
    RtcIceCandidate,
    RtcJoin,
    RtcJoinReply,
    RtcLeave,
    RtcOffer,
    RtcPeerJoined,
    RtcPeerLeft,
    SignalReply,
)
from server.errors import ErrorCode, EventError
from server.hub import Hub, Socket
from server.rooms import RTC, rtc_room
from server.services import Services

# RTC rooms one connection may be in at once
MAX_ROOMS_PER_SOCKET = 100

Signal = RtcOffer | RtcAnswer | RtcIceCandidate


def install(hub: Hub, services: Services) -> Signaling:
    signaling = Signaling(hub)
    hub.on(RtcJoin)(signaling.on_join)
    hub.on(RtcLeave)(signaling.on_leave)
    for signal in (RtcOffer, RtcAnswer, RtcIceCandidate):
        hub.on(signal)(signaling.relay)
    hub.on_disconnect(signaling.on_disconnect)
    return signaling


class Signaling:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def on_join(self, sock: Socket, join: RtcJoin) -> RtcJoinReply:
        room = rtc_room(join.room_id)
        peers = [m.sid for m in sock.namespace.members(room) if m is not sock]
        if room not in sock.rooms:
            if sum(1 for r in sock.rooms if r.startswith(RTC)) >= MAX_ROOMS_PER_SOCKET:
                raise EventError(
                    ErrorCode.RATE_LIMITED,
                    f"a connection may be in at most {MAX_ROOMS_PER_SOCKET} RTC rooms:"
                    " leave one first",
                )
            sock.join(room)
            joined = RtcPeerJoined(sock.sid, sock.user_id)
            self.hub.emit_event(joined, namespace=sock.namespace, to=room, skip=sock)
        return RtcJoinReply(join.room_id, sock.sid, tuple(peers))

    async def on_leave(self, sock: Socket, leave: RtcLeave) -> RoomReply:
        room = rtc_room(leave.room_id)
        if room not in sock.rooms:
            raise EventError(ErrorCode.NOT_FOUND, f"not in RTC room {leave.room_id!r}")
        self._leave(sock, room)
        return RoomReply(leave.room_id)

    async def relay(self, sock: Socket, signal: Signal) -> SignalReply:
        target = sock.namespace.sockets.get(signal.to)
        rtc_rooms = {r for r in sock.rooms if r.startswith(RTC)}
        if target is None or not (rtc_rooms & target.rooms):
            raise EventError(
                ErrorCode.NOT_FOUND, f"peer {signal.to!r} is not in an RTC room with you"
            )
        target.emit_event(signal.relayed(sock.sid))
        return SignalReply(signal.to)

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        for room in [r for r in sock.rooms if r.startswith(RTC)]:
            self._leave(sock, room)

    def _leave(self, sock: Socket, room: str) -> None:
        sock.leave(room)
        self.hub.emit_event(RtcPeerLeft(sock.sid, sock.user_id), namespace=sock.namespace, to=room)
