"""Collaborative documents through a client/server pair: every strategy of the registry.

Each strategy's replica (`server.collab.registry`) edits through the server;
what the sender is acked and what the others receive is checked against the
same strategy's `DocumentServer` fed the same ops (the registry's own
answer), so the payloads are exact for every strategy, present and future.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.collab.base import Replica
from server.collab.registry import get_strategy, strategy_names
from server.features import documents
from simulate.client import SocketIOClient
from tests.server.memory_pair import reference_server, refusal

DOC = "notes"


async def join(client: SocketIOClient, user_id: str, strategy: str | None = None) -> Any:
    args: list[Any] = [DOC, user_id] + ([{"strategy": strategy}] if strategy else [])
    return await client.call("join-document", *args)


def replica_of(user_id: str, reply: dict[str, Any]) -> Replica:
    return get_strategy(reply["strategy"]).create_replica(user_id, reply)


@pytest.mark.parametrize("strategy", strategy_names())
async def test_join_change_and_cursor_under_each_strategy(tmp_path: Path, strategy: str) -> None:
    reference = get_strategy(strategy).create_document()
    async with reference_server(tmp_path) as pair:
        async with pair.client() as ann, pair.client() as bob:
            joined = await join(ann, "ann", strategy)
            assert joined == {
                "ok": True,
                "documentId": DOC,
                "strategy": strategy,
                **reference.snapshot(),
                "cursors": {},
            }
            # later joiners need not name it: the document has one
            bob_replica = replica_of("bob", await join(bob, "bob"))
            ann_replica = replica_of("ann", joined)

            ann_replica.insert(0, "héllo")
            ann_replica.insert(5, " 😀")
            relayed = []
            while ops := ann_replica.take_outgoing():  # OT holds back all but one in flight
                for op in ops:
                    applied = reference.apply(op, "ann")
                    ack = await ann.call("document-change", DOC, op)
                    assert ack == {"ok": True, "documentId": DOC, **applied.ack}
                    ann_replica.acknowledge(
                        {k: v for k, v in ack.items() if k not in ("ok", "documentId")}
                    )
                    if applied.broadcast is not None:
                        relayed.append({**applied.broadcast, "documentId": DOC})
            assert relayed
            await pair.settle()
            assert pair.heard(bob).of("document-change") == relayed
            assert pair.heard(ann).of("document-change") == []
            for change in pair.heard(bob).of("document-change"):
                bob_replica.receive(change)
            assert bob_replica.text() == ann_replica.text() == "héllo 😀"
            assert pair.server.documents.documents[DOC].server.text() == "héllo 😀"

            wire = ann_replica.encode_cursor(1)
            assert await ann.call("cursor-update", DOC, {"userId": "ann", "position": wire}) == {
                "ok": True
            }
            await pair.settle()
            moved = {"documentId": DOC, "userId": "ann", "position": wire}
            assert pair.heard(bob).of("cursor-update") == [moved]
            assert pair.heard(ann).of("cursor-update") == []
            bob_replica.set_remote_cursor("ann", wire)
            assert bob_replica.remote_cursors() == {"ann": 1}

            async with pair.client() as late:
                reply = await join(late, "cy")
                assert reply == {
                    "ok": True,
                    "documentId": DOC,
                    "strategy": strategy,
                    **pair.server.documents.documents[DOC].server.snapshot(),
                    "cursors": {"ann": wire},
                }
                assert replica_of("cy", reply).text() == "héllo 😀"


async def test_naive_changes_are_relayed_as_sent(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as ann, pair.client() as bob:
            assert (await join(ann, "ann"))["strategy"] == "naive"  # the server's default
            await join(bob, "bob")
            change = {"userId": "ann", "position": 0, "insert": "hi"}
            assert await ann.call("document-change", DOC, change) == {
                "ok": True,
                "documentId": DOC,
                "revision": 1,
            }
            delete = {"userId": "ann", "position": 1, "delete": 1, "insert": "o"}
            assert (await ann.call("document-change", DOC, delete))["revision"] == 2
            await pair.settle()
            assert pair.heard(bob).of("document-change") == [
                {**change, "documentId": DOC},
                {**delete, "documentId": DOC},
            ]
            assert pair.server.documents.documents[DOC].server.text() == "ho"


async def test_a_joiner_naming_another_strategy_is_a_conflict(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as ann, pair.client() as bob:
            assert (await join(ann, "ann", "ot"))["ok"]
            assert await join(bob, "bob", "fugue") == refusal(
                "conflict", f"document {DOC!r} uses strategy 'ot', not 'fugue'"
            )
            # bob is no member: his changes are refused, the document unchanged
            assert await bob.call("document-change", DOC, {"rev": 0, "ops": ["x"]}) == refusal(
                "forbidden", f"join document {DOC!r} before editing it"
            )
            assert (await join(bob, "bob", "ot"))["ok"]
            assert pair.server.documents.documents[DOC].server.text() == ""


async def test_document_refusals_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "MAX_DOCUMENTS_PER_SOCKET", 1)
    async with reference_server(tmp_path) as pair, pair.client() as ann:
        assert await ann.call("document-change", "nope", {"rev": 0, "ops": ["x"]}) == refusal(
            "not_found", "unknown document 'nope': join it first"
        )
        unknown = await ann.call("join-document", DOC, "ann", {"strategy": "magic"})
        assert unknown["error"]["code"] == "bad_request"
        assert (await join(ann, "ann", "ot"))["ok"]
        out_of_range = await ann.call("document-change", DOC, {"rev": 0, "ops": [10, "x"]})
        assert out_of_range["error"]["code"] == "bad_request"
        other_user = {"userId": "bob", "position": 0, "insert": "x"}
        assert await ann.call("document-change", DOC, other_user) == refusal(
            "forbidden", "this connection edits as 'ann'"
        )
        assert await ann.call("join-document", "second", "ann") == refusal(
            "rate_limited", "a connection may join at most 1 documents: leave one first"
        )
        assert pair.server.documents.documents[DOC].server.text() == ""
        assert pair.server.documents.documents[DOC].seq == 0


async def test_a_leaving_editors_cursor_is_removed(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as ann, pair.client() as bob:
            await join(ann, "ann")
            await join(bob, "bob")
            async with pair.client() as cy:
                await join(cy, "cy")
                for client, user_id in ((ann, "ann"), (cy, "cy")):
                    cursor = {"userId": user_id, "position": 0}
                    assert (await client.call("cursor-update", DOC, cursor))["ok"]
                assert await ann.call("leave-document", DOC, "ann") == {
                    "ok": True,
                    "documentId": DOC,
                }
                assert await ann.call("leave-document", DOC, "ann") == refusal(
                    "forbidden", f"join document {DOC!r} before editing it"
                )
            # cy disconnected: the same notice
            await pair.settle()
            assert pair.heard(bob).of("cursor-update") == [
                {"documentId": DOC, "userId": "ann", "position": 0},
                {"documentId": DOC, "userId": "cy", "position": 0},
                {"documentId": DOC, "userId": "ann", "position": None, "left": True},
                {"documentId": DOC, "userId": "cy", "position": None, "left": True},
            ]
            assert (await join(ann, "ann"))["cursors"] == {}
            assert (await bob.call("leave-document", DOC, "bob"))["ok"]
            assert (await ann.call("leave-document", DOC, "ann"))["ok"]
            # nobody edits it: it leaves memory (and reloads from the store)
            assert DOC not in pair.server.documents.documents
