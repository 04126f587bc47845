"""Socket adapters: the old extension's raw-text wire and JSON-RPC (TCP or stdio) over one RAG.

``serve(rag, settings, stdio=...)`` is what the CLI runs; :class:`Server` is the same thing with
explicit start/close for tests and embedding; :class:`Limits` bounds what one client may cost.
docs/protocol.md specifies both wires.
"""

from azsdk_rag.server.framing import Limits
from azsdk_rag.server.serve import Server, check_settings, is_loopback, serve

__all__ = ["Limits", "Server", "check_settings", "is_loopback", "serve"]
