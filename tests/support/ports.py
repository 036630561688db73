"""Free ports on 127.0.0.1, chosen at run time, for servers a test starts as processes."""

from __future__ import annotations

import socket


def unused_port() -> int:
    """A port nothing listens on right now (the OS picks it; the probe closes it again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
