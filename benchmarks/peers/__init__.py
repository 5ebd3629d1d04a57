"""Servers that are not ours, bundled so that rtlab can load-test them next to its own.

`tutorial_node.mjs` (npm socket.io) and `tutorial_python.py` (python-socketio
under uvicorn) both run the tutorial's route handler as written: no acks,
`receive-message` to the whole room, `user-joined`/`user-left` with the room's
user ids, and the editor's document events relayed to the document's room.
`scripts/bundled_targets.py` starts them by name (`tutorial-node`,
`tutorial-python`) for `make loadtest TARGET=...` and `make loadtest-compare`.
"""
