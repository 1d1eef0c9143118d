"""The test suite itself refuses the network: a connection to another machine fails at once, loopback works."""

import socket
import urllib.request

import pytest

from tests.conftest import NetworkUseError


@pytest.mark.parametrize("address", [("192.0.2.1", 80), ("2001:db8::1", 443), ("huggingface.co", 443)])
def test_a_connection_to_another_machine_is_refused(address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s, pytest.raises(NetworkUseError, match="tests run offline"):
        s.settimeout(2)
        s.connect(address)


def test_an_http_request_to_another_machine_is_refused():
    with pytest.raises(OSError, match="tests run offline"):
        urllib.request.urlopen("http://192.0.2.1/api/models", timeout=2)


def test_loopback_still_connects():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
