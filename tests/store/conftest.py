import pytest


@pytest.fixture(params=["lite"])
def store_uri(request, tmp_path):
    """Where a test index lives: a Milvus Lite file (a server URI takes the same code)."""
    return str(tmp_path / "index.db")
