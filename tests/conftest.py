"""Shared pytest fixtures. Each fixture builds real parts at test time: no network, no mocks."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tests.fixtures.library import LibraryManifest, make_library

TOKEN = "test-token-5f1c"  # the write-endpoint token of the shared index's configuration


class NetworkUseError(OSError):
    """A test (or the code it runs) tried to reach a machine other than this one."""


def _loopback_only(connect):
    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0]).split("%")[0]
            try:
                ip = ipaddress.ip_address(host)
                local = ip.is_loopback or ip.is_unspecified
            except ValueError:
                local = host == "localhost"
            if not local:
                raise NetworkUseError(f"tests run offline: the connection to {address} was refused")
        return connect(sock, address)

    return guarded


# Tests never touch the network: every connection this process makes (hub clients, HTTP, gRPC through
# Python sockets) may reach this machine only. Child processes are the tests' own servers and CLIs.
socket.socket.connect = _loopback_only(socket.socket.connect)
socket.socket.connect_ex = _loopback_only(socket.socket.connect_ex)


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> LibraryManifest:
    """A small real music library (13 songs, 6 formats, 6 genres, 4 broken files), built once per run.

    Read-only for tests: copy a file to tmp_path before changing it. See tests/fixtures/library.py.
    """
    return make_library(tmp_path_factory.mktemp("library"))


@pytest.fixture(scope="session")
def indexed(library, tmp_path_factory):
    """(config, workspace, report): the test library indexed with the real offline models and fusion."""
    from crossgenre.config import Config
    from crossgenre.indexer import index_library
    from crossgenre.workspace import open_for_indexing

    data = tmp_path_factory.mktemp("server-index")
    config = Config(data_dir=data, profile="offline", library=(str(library.root),), token=TOKEN, threads=6)
    ws = open_for_indexing(config, "offline")
    report = index_library(ws, [library.root], progress=False)
    yield config, ws, report
    ws.close()


@pytest.fixture(scope="session")
def milvus_server_uri(tmp_path_factory):
    """A real Milvus standalone server (the `milvus` PyPI package) on 127.0.0.1, for the whole session."""
    from tests.fixtures.milvus_server import start_server

    server, uri = start_server(str(tmp_path_factory.mktemp("milvus-server")))
    yield uri
    server.stop()
