"""Shared pytest fixtures. Each fixture builds real parts at test time: no network, no mocks."""

from __future__ import annotations

import pytest

from tests.fixtures.library import LibraryManifest, make_library


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> LibraryManifest:
    """A small real music library (13 songs, 6 formats, 6 genres, 4 broken files), built once per run.

    Read-only for tests: copy a file to tmp_path before changing it. See tests/fixtures/library.py.
    """
    return make_library(tmp_path_factory.mktemp("library"))
