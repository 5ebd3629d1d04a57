"""The dmonad/crdt-benchmarks suite for rtlab's strategies and raw pycrdt / Loro.

    python -m benchmarks.crdt [--n 6000] [--runs 3] [--b4-repeat 3] [--only B1,B4] [--out DIR]

Rows follow the suite's own definitions (github.com/dmonad/crdt-benchmarks,
`js-lib/b1.js` .. `b4.js`): N = 6000 by default, inputs drawn from a PRNG with
a fixed seed (42, as the suite's), so every subject replays the same edits.
B3.1-B3.3 have 20√N clients set one key of a map at once (a number, an
object, a long string): only raw pycrdt and Loro have a map
(`benchmarks.crdt.maps`); rtlab's strategies are texts, and their cells say
"n/a: no map type". B3.4 (each client inserts its own number at index 0)
runs on a text instead of the suite's array. One row is ours: M1, a
long-diverged merge (the Eg-walker paper's A1/A2 style).

Columns are the suite's: time, average update size, encode time, document
size, parse (load) time, and memory, which is measured in a fresh process
per cell (`benchmarks.crdt.memory`) as the growth of the process RSS (native
heaps included) and, separately, of the Python heap (tracemalloc).

Results go to a run directory (`reports/runs/<id>/`: meta.json, suite.json,
table.md); `python -m reports build DIR` renders the table as the suite's
README does.
"""
