"""What the server allows a client (its own module: the command line reads the defaults without
importing the server)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    body_bytes: int = 1 << 20  # the largest POST body
    timeout: float = 10.0  # seconds a connection may stay silent
    connections: int = 64  # open connections a worker takes; past them a 503 at once
    drain_seconds: float = 10.0  # how long SIGTERM waits for requests in flight
