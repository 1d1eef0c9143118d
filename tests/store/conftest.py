import pytest

@pytest.fixture(params=["lite", "server"])
def store_uri(request, tmp_path):
    """A Milvus Lite file, and a real Milvus server: the store's code is the same for both."""
    if request.param == "lite":
        return str(tmp_path / "index.db")
    return request.getfixturevalue("milvus_server_uri")
