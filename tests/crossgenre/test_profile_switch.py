"""A profile switch: an index built with the offline profile, then the full profile's weights appear and
`crossgenre index --profile auto` embeds every song again into new collections. Killed mid-switch (a real
subprocess, SIGKILL), the old index still answers searches and a rerun resumes the switch; killed right after
the swap, the new index answers and the next run drops the old collections. The full profile's weights are
tiny random models written at test time.

Seen failing on purpose: with `open_for_indexing` dropping the old index and its fusion and writing into the
same collections again (the switch as it was before generations), the first check after the kill found the
full profile with 4 songs where the offline index had 5 ("the old index answers until the switch ends").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.crossgenre.test_index_cli import stop_and_kill

CLI = [sys.executable, "-m", "crossgenre.cli"]
# five songs: the audio encoder takes four at a time, so the first commit holds four and the fifth comes after
TITLES = ("Willow Road", "Harbor Fog", "Cinder Throne", "Pulse Engine", "Late Train Home")


def _index(lib, data, models, *flags, stop_at: str = "") -> subprocess.CompletedProcess | str:
    """`crossgenre index`; with `stop_at`, stopped there (CROSSGENRE_STOP_AT) and SIGKILLed: returns its stderr."""
    args = [*CLI, "index", str(lib), "--data-dir", str(data), "--model-dir", str(models), "-q", "--batch-size", "1", *flags]
    if not stop_at:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc
    return stop_and_kill(args, data, stop_at)


def _look(data, models) -> dict:
    """What a search process sees (in a subprocess: a Milvus Lite file is held by the process that opens it):
    the active index's profile, its songs, a text search's hits, and every collection in the database."""
    code = ("import json, sys; from tests.crossgenre.test_profile_switch import _inspect; "
            "print(json.dumps(_inspect(sys.argv[1], sys.argv[2])))")
    proc = subprocess.run([sys.executable, "-c", code, str(data), str(models)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _inspect(data: str, models: str) -> dict:
    from pathlib import Path

    from crossgenre.config import Config
    from crossgenre.workspace import open_for_search
    from search import Query, SearchEngine

    ws = open_for_search(Config(data_dir=Path(data), model_dir=Path(models), profile="auto"))
    try:
        hits = SearchEngine(ws).search(Query(text="calm folk guitar", k=5))
        return {"profile": ws.profile.name, "songs": ws.store.count(), "hits": [h.id for h in hits],
                "collections": sorted(ws.store.client.list_collections()),
                "fusions": sorted(p.name for p in Path(data).glob("*-fusion"))}
    finally:
        ws.close()


@pytest.fixture(scope="module")
def setup(library, tmp_path_factory):
    import json as _json

    from encoders.profile import read_profile_settings
    from tests.fixtures.random_models import write_model_dir

    tmp = tmp_path_factory.mktemp("switch")
    lib = tmp / "lib"
    lib.mkdir()
    for title in TITLES:
        shutil.copy(library.song(title).path, lib)
    models = tmp / "models"
    settings = write_model_dir(models, read_profile_settings("full"), size="tiny")
    (models / "full.json").write_text(_json.dumps(settings))
    return lib, tmp / "data", models


def test_a_profile_switch_fills_new_collections_and_swaps_at_the_end(setup):
    lib, data, models = setup
    assert "5 added" in _index(lib, data, models, "--profile", "offline").stdout
    old = {f"crossgenre_{kind}" for kind in ("songs", "windows", "chunks", "print_codes", "meta")}

    _index(lib, data, models, "--profile", "auto", stop_at="rows:1")  # four songs in the new index, then killed
    during = _look(data, models)
    assert (during["profile"], during["songs"], len(during["hits"])) == ("offline", 5, 5), \
        "the old index answers until the switch ends"
    assert "crossgenre_g2_songs" in during["collections"] and old <= set(during["collections"])

    stderr = _index(lib, data, models, "--profile", "auto", stop_at="swap")  # resumed, then killed after the swap
    assert "Resuming the switch a stopped run began; songs already embedded: 4." in stderr, stderr[-3000:]

    proc = _index(lib, data, models, "--profile", "auto")  # drops what the killed swap left
    assert "5 unchanged" in proc.stdout, proc.stdout
    after = _look(data, models)
    assert (after["profile"], after["songs"], len(after["hits"])) == ("full", 5, 5)
    assert not old & set(after["collections"]), "the old collections are dropped"
    assert after["fusions"] == ["crossgenre_g2-fusion"], after["fusions"]
