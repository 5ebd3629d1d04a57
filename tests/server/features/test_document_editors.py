"""Collaborative documents through client/server pairs: editors with strategy replicas.

Three editors type concurrently (random positions, seeded) through the
reference server; every replica must end equal to the server's text for the
convergent strategies. Late joiners start from the current state; cursors
follow remote edits; bad input gets a clear error and corrupts nothing.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import trio

from simulate.document_session import DocumentSession
from tests.server.memory_pair import reference_server, wait_until


async def edit_randomly(session: DocumentSession, rng: random.Random, ops: int) -> None:
    alphabet = session.user_id[0] * 3 + "é😀 "
    for _ in range(ops):
        length = len(session.text)
        if length and rng.random() < 0.3:
            pos = rng.randrange(length)
            session.delete(pos, min(rng.randint(1, 3), length - pos))
        else:
            session.insert(
                rng.randint(0, length), "".join(rng.choices(alphabet, k=rng.randint(1, 4)))
            )
        await trio.sleep(rng.random() * 0.005)


@pytest.mark.parametrize("strategy", ["ot", "fugue", "yjs", "rga", "lww", "loro"])
async def test_three_editors_converge_and_late_joiner_starts_right(
    tmp_path: Path, strategy: str
) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as a, pair.client() as b, pair.client() as c:
            sessions = [
                DocumentSession(cl, "doc-1", uid) for cl, uid in ((a, "ann"), (b, "bob"), (c, "cy"))
            ]
            await sessions[0].join(strategy)
            for s in sessions[1:]:
                await s.join()
            assert {s.strategy for s in sessions} == {strategy}
            async with trio.open_nursery() as editors:
                for s in sessions:
                    editors.start_soon(s.run_pump)
                async with trio.open_nursery() as typing:
                    for i, s in enumerate(sessions):
                        typing.start_soon(edit_randomly, s, random.Random(i), 40)
                await wait_until(lambda: all(s.idle for s in sessions), timeout=10)
                await pair.settle()  # the last broadcasts land
                doc_text = pair.server.documents.documents["doc-1"].server.text()
                assert all(not s.errors for s in sessions), [s.errors for s in sessions]
                assert [s.text for s in sessions] == [doc_text] * 3
                assert len(doc_text) > 0
                editors.cancel_scope.cancel()
            async with pair.client() as d:
                late = DocumentSession(d, "doc-1", "dee")
                reply = await late.join()
                assert reply["content"] == doc_text
                assert late.text == doc_text


async def test_naive_documents_can_diverge_but_ot_cannot(tmp_path: Path) -> None:
    """Two editors insert at position 0 at the same moment: naive relays raw indexes."""
    async with reference_server(tmp_path) as pair:
        async with pair.client() as a, pair.client() as b:
            for strategy in ("naive", "ot"):
                doc = f"race-{strategy}"
                sa, sb = DocumentSession(a, doc, "ann"), DocumentSession(b, doc, "bob")
                await sa.join(strategy)
                await sb.join()
                sa.insert(0, "AAA")
                sb.insert(0, "BBB")
                async with trio.open_nursery() as n:
                    n.start_soon(sa.flush)
                    n.start_soon(sb.flush)
                pair_of = (sa, sb)

                def idle(sessions: tuple[DocumentSession, ...] = pair_of) -> bool:
                    return all(session.idle for session in sessions)

                await wait_until(idle)
                await pair.settle()
                server_text = pair.server.documents.documents[doc].server.text()
                if strategy == "ot":
                    assert sa.text == sb.text == server_text
                    assert sorted([server_text[:3], server_text[3:]]) == ["AAA", "BBB"]
                else:
                    # each replica put its own text first, then the other's at raw index 0
                    assert sa.text != sb.text


@pytest.mark.parametrize("strategy", ["ot", "fugue", "naive", "loro"])
async def test_cursor_follows_remote_insert_before_it(tmp_path: Path, strategy: str) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as a, pair.client() as b:
            sa, sb = DocumentSession(a, "cur", "ann"), DocumentSession(b, "cur", "bob")
            await sa.join(strategy)
            await sb.join()
            assert sa.replica is not None
            replica = sa.replica
            sa.insert(0, "hello world")
            await sa.flush()
            await wait_until(lambda: sb.text == "hello world")
            await sb.move_cursor(6)  # before "world"
            await wait_until(lambda: "bob" in replica.remote_cursors())
            assert replica.remote_cursors()["bob"] == 6
            sa.insert(0, ">> ")
            await sa.flush()
            await wait_until(lambda: sa.idle)
            expected = 6 if strategy == "naive" else 9  # naive keeps the raw index, as the tutorial
            assert replica.remote_cursors()["bob"] == expected


async def test_bad_document_input_is_refused_and_nothing_is_corrupted(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as a, pair.client() as b:
            sa = DocumentSession(a, "d", "ann")
            await sa.join("ot")
            sa.insert(0, "abc")
            await sa.flush()
            await wait_until(lambda: sa.idle)

            unknown = await a.call("document-change", "nope", {"rev": 0, "ops": ["x"]})
            assert unknown["ok"] is False and unknown["error"]["code"] == "not_found"
            out_of_range = await a.call("document-change", "d", {"rev": 1, "ops": [10, "x"]})
            assert out_of_range["ok"] is False and out_of_range["error"]["code"] == "bad_request"
            wrong_strategy = await a.call(
                "document-change", "d", {"userId": "ann", "position": 0, "insert": "x"}
            )
            assert wrong_strategy["ok"] is False
            assert wrong_strategy["error"]["code"] in ("bad_request", "conflict")
            mixed = await b.call("join-document", "d", "bob", {"strategy": "fugue"})
            assert mixed["ok"] is False and mixed["error"]["code"] == "conflict"
            not_member = await b.call("document-change", "d", {"rev": 1, "ops": ["x"]})
            assert not_member["ok"] is False and not_member["error"]["code"] == "forbidden"
            unknown_strategy = await b.call("join-document", "e", "bob", {"strategy": "magic"})
            assert unknown_strategy["ok"] is False
            assert unknown_strategy["error"]["code"] == "bad_request"

            assert pair.server.documents.documents["d"].server.text() == "abc"
            sa.insert(3, "d")
            await sa.flush()
            await wait_until(lambda: sa.idle)
            assert pair.server.documents.documents["d"].server.text() == "abcd"
            assert not sa.errors


async def test_acknowledged_changes_survive_a_restart(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair, pair.client() as a:
        sa = DocumentSession(a, "keep", "ann")
        await sa.join("fugue")
        for acked, word in enumerate(["one ", "two ", "three"], start=1):
            sa.insert(len(sa.text), word)
            await sa.flush()

            def stored(count: int = acked) -> bool:
                return sa.acked == count

            await wait_until(stored)
    async with reference_server(tmp_path) as pair, pair.client() as client:
        reply = await client.call("join-document", "keep", "bob")
        assert reply["strategy"] == "fugue"
        assert reply["content"] == "one two three"
