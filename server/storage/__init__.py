"""Storage: what the features keep across restarts, behind one port per data set.

- `writes`: the handle every write returns (`PendingWrite`), the per-key
  `WriteFence`, and `StoreBusy`; no backend in them.
- `ports`: the Protocols the features call (`ChatLog`, `DocumentLog`,
  `NotificationBacklog`, `SessionStore`), their row types, and `Storage`,
  the bundle a server composes.
- `sqlite`: the embedded backend and the only module with SQL text.

Features import `writes` and `ports`, never a backend: the server picks the
backend (docs/storage.md says what a new one has to provide).
"""
