import pytest

from tests.fixtures.milvus_server import start_server


@pytest.fixture(scope="session")
def milvus_server_uri(tmp_path_factory):
    """A real Milvus standalone server (the `milvus` PyPI package) for the whole session."""
    server, uri = start_server(str(tmp_path_factory.mktemp("milvus-server")))
    yield uri
    server.stop()


@pytest.fixture(params=["lite", "server"])
def store_uri(request, tmp_path):
    """A Milvus Lite file, and a real Milvus server: the store's code is the same for both."""
    if request.param == "lite":
        return str(tmp_path / "index.db")
    return request.getfixturevalue("milvus_server_uri")
