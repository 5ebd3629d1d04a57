"""One HTTP/1.1 request on a fresh connection, with h11 over trio.

The client's long-polling transport and the notifier bots (`POST /notify`)
both need a plain request/response and nothing more; a connection per
request keeps concurrent requests (a pending poll and a POST) independent.
"""

from __future__ import annotations

import h11
import trio


async def http_request(
    host: str,
    port: int,
    method: str,
    target: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, bytes]:
    """(status, body) of one request; `Connection: close`, content-length set for a body."""
    conn = h11.Connection(h11.CLIENT)
    all_headers = [("host", f"{host}:{port}"), ("connection", "close"), *(headers or [])]
    if method in ("POST", "PUT"):
        all_headers.append(("content-length", str(len(body))))
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        data = conn.send(h11.Request(method=method, target=target, headers=all_headers))
        if body:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        status = 0
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status, b"".join(chunks)
