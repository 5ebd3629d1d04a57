"""Conflict strategies for collaborative text, and the shared parts they are built from.

The keystroke path (`native.COMPILED`) loads from a mypyc build when one of
exactly these sources exists (`make native`); see `server.collab.native`.
"""

from server.collab import native as _native

__path__ = _native.search_path(__path__, _native.STATUS)
