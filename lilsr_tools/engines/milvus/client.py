"""Talking to Milvus: connecting (Milvus Lite file or server URI), errors, and URIs without credentials.

Milvus Lite 3.x (the ``milvus-lite`` package) runs *inside our process*: for a ``*.db`` URI pymilvus asks
``milvus_lite.server_manager`` for a gRPC server on a free localhost port, served by Python threads over
a data folder; nothing is spawned, and the server stops with the process (an ``atexit`` hook, daemon
threads). One process at a time may open a Lite database (its ``LOCK`` file). A ``http(s)://`` or
``tcp://`` URI reaches a Milvus standalone or cluster server through the same client calls.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ...errors import LilsrError

LITE_FILE = "milvus.db"  # the Milvus Lite database inside an index folder
TOKEN_ENV = "MILVUS_TOKEN"  # where a server token comes from when not given (never written anywhere)
CONNECT_TIMEOUT_S = 5.0
COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def import_pymilvus():
    # gRPC's C core logs a Milvus Lite call it does not implement (AllocTimestamp) as an error line on
    # stderr, below Python's logging, even when the command succeeds; a real failure still reaches us as
    # an exception. The core reads its verbosity once, when first loaded: set it before pymilvus loads it
    # (a value the user exported wins).
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    # Without this, gRPC's fork handlers run in every child this process forks afterwards (the Java children
    # of a Lucene build, started with a pre-exec hook) and can fail it: the child printed "Epoll1Poller ...
    # epoll_wait error: Bad file descriptor" and exited non-zero once Milvus had been used in the process.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    try:
        import pymilvus
    except ImportError as exc:
        raise LilsrError(f"the milvus engine needs pymilvus and milvus-lite ({exc}); run `make venv` "
                         "(it installs the 'engines' extra)") from None
    # pymilvus logs every failed call with a traceback, Milvus Lite (and gRPC under it, for calls Lite
    # does not implement, such as AllocTimestamp) log server-side exceptions: our errors are one line
    for name in ("pymilvus", "milvus_lite", "grpc._server"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return pymilvus


def is_lite(uri: str) -> bool:
    return str(uri).endswith(".db")


def safe_uri(uri: str) -> str:
    """The URI without user:password (what the manifest and messages show)."""
    if is_lite(uri):
        return str(uri)
    parts = urlsplit(str(uri))
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return str(uri)


def check_uri(uri: str) -> str:
    uri = str(uri)
    if is_lite(uri):
        return uri
    scheme = urlsplit(uri).scheme.lower()
    if scheme not in ("http", "https", "tcp", "unix"):
        raise LilsrError(f"--uri {safe_uri(uri)!r}: expected http://host:19530 (a Milvus server), https://... "
                         "or a Milvus Lite file ending in .db")
    return uri


def first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message).strip().splitlines()[0]


def connect(uri: str, *, token: str | None = None, db: str | None = None, timeout: float = CONNECT_TIMEOUT_S):
    """A ``MilvusClient`` for ``uri``; an unreachable server fails within ``timeout`` seconds, one line."""
    pymilvus = import_pymilvus()
    uri = check_uri(uri)
    token = token if token is not None else os.environ.get(TOKEN_ENV, "")
    if is_lite(uri):
        folder = Path(uri).parent
        if not folder.is_dir():
            raise LilsrError(f"{uri}: folder {folder} does not exist")
        try:
            return pymilvus.MilvusClient(uri, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several types; all mean "cannot open"
            raise LilsrError(f"cannot open the Milvus Lite database {uri} ({first_line(exc)}); is another process "
                             "using it? Milvus Lite allows one process per database") from None
    try:
        return pymilvus.MilvusClient(uri, token=token or "", db_name=db or "", timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        raise LilsrError(f"cannot reach Milvus at {safe_uri(uri)} within {timeout:g} s ({first_line(exc)}); start "
                         "the server or fix --uri (see docs/scale-out.md)") from None


def release_lite(uri: str) -> None:
    """Stop the in-process Milvus Lite server of ``uri`` (it holds the database's LOCK until stopped)."""
    if not is_lite(uri):
        return
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return
    server_manager_instance.release_server(str(uri))


def call(what: str, uri: str, fn, *args, **kwargs):
    """Run a client call; a Milvus refusal becomes a one-line ``LilsrError`` naming the URI."""
    try:
        return fn(*args, **kwargs)
    except LilsrError:
        raise
    except Exception as exc:  # noqa: BLE001 - MilvusException and gRPC errors alike
        if type(exc).__module__.startswith(("pymilvus", "grpc")):
            raise LilsrError(f"Milvus {what} failed at {safe_uri(uri)}: {first_line(exc)}") from None
        raise
