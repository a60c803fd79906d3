"""A local S3 endpoint: a moto server on 127.0.0.1, the stand-in for S3 (and SNS, SQS) on a
machine without one. The executors' class archive is recorded against it, and the benchmarks
and the tests run their S3 lakes on it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from brewlake.devkit.cluster import HOST, free_port


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1 while the block runs; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.stop()
