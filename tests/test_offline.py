"""The test suite itself refuses the network: a connection to another machine fails before it reaches the
operating system, loopback works. The remote cases never open a connection, even with a broken guard: the
guard is checked in front of a recorder that stands where the real connect would be."""

import socket

import pytest

from tests.conftest import NetworkUseError, _loopback_only


def test_every_socket_connect_goes_through_the_guard():
    assert socket.socket.connect.__name__ == socket.socket.connect_ex.__name__ == "guarded"


@pytest.fixture
def reached(monkeypatch):
    """The addresses that got past the guard: a recorder in place of the system's connect."""
    passed = []
    monkeypatch.setattr(socket.socket, "connect", _loopback_only(lambda sock, address: passed.append(address)))
    return passed


@pytest.mark.parametrize("address", [("192.0.2.1", 80), ("2001:db8::1", 443), ("models.example", 443)])
def test_a_connection_to_another_machine_is_refused(reached, address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s, pytest.raises(NetworkUseError, match="tests run offline"):
        s.connect(address)
    assert reached == []


def test_a_library_connection_to_another_machine_is_refused(reached):
    # socket.create_connection is what HTTP clients (urllib, http.client, requests) open connections with
    with pytest.raises(OSError, match="tests run offline"):
        socket.create_connection(("192.0.2.1", 80), timeout=2)  # TEST-NET-1: a documentation address
    assert reached == []


def test_loopback_passes_the_guard(reached):
    with socket.socket() as s:
        s.connect(("127.0.0.1", 9))
    assert reached == [("127.0.0.1", 9)]


def test_loopback_still_connects():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
