"""The `crossgenre` command: maps subcommands to functions; every known error becomes one line and an exit code.

Exit codes: 0 ok, 1 error, 2 bad arguments or query, 3 model weights missing, 4 profile mismatch,
5 index locked by another process, 6 indexing finished but some files were skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

# Nothing may reach a model hub unless the user runs `crossgenre models download`.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from scan.errors import CrossgenreError  # noqa: E402

log = logging.getLogger("crossgenre")
EXIT_SKIPPED = 6


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML configuration file (default: ./crossgenre.toml if present)")
    p.add_argument("--data-dir", help="folder of the Milvus Lite file and the fitted fusion (default: ./data)")
    p.add_argument("--milvus-uri", help="Milvus server URI (http://host:19530) instead of the Lite file")
    p.add_argument("--model-dir", help="folder of the full profile's weights")
    p.add_argument("--profile", choices=["full", "offline", "auto"], help="model profile (default: auto)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossgenre", description="Find music by how it sounds, what it says and how it looks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="index (or refresh) the songs under some folders")
    _common(p)
    p.add_argument("paths", nargs="+", help="music folders or files")
    p.add_argument("--rebuild", action="store_true", help="forget the index and embed every song again")
    p.add_argument("--max-windows", type=int, help="audio windows per song, spread over it (0: the whole song)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search by text, an audio clip or an image")
    _common(p)
    p.add_argument("text", nargs="?", help="a description, lyrics or a mood")
    p.add_argument("--audio", type=Path, help="an audio clip to match")
    p.add_argument("--image", type=Path, help="an album cover photo to match")
    p.add_argument("-k", type=int, default=10, help="how many songs (default 10)")
    p.add_argument("--genre"), p.add_argument("--artist"), p.add_argument("--album")
    p.add_argument("--year-min", type=int), p.add_argument("--year-max", type=int)
    p.add_argument("--bpm-min", type=float, help="slowest tempo, in beats a minute")
    p.add_argument("--bpm-max", type=float, help="fastest tempo, in beats a minute")
    p.add_argument("--half-double", action="store_true", help="the bpm range also matches half- and double-time songs")
    p.add_argument("--key", help="musical key: 'A minor', 'F#m', 'Eb major' or Camelot '8A'")
    p.add_argument("--compatible-keys", action="store_true", help="also keys next to --key on the Camelot wheel")
    p.add_argument("--energy-min", type=float, help="least energy, 0-1"), p.add_argument("--energy-max", type=float)
    p.add_argument("--cross-genre", action="store_true", help="songs with the same feel from other genres")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("stats", help="what the index holds")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("serve", help="serve the web page and the JSON API")
    _common(p)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080)")
    p.add_argument("--library", nargs="*", help="folders that POST /api/index re-scans")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="index the bundled real demo tracks, show example searches, then serve")
    _common(p)
    p.add_argument("--host"), p.add_argument("--port", type=int)
    p.add_argument("--no-serve", action="store_true", help="stop after the example searches")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("fit", help="fit the joint space (fusion) on the indexed songs now")
    _common(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("eval", help="retrieval metrics on a JSONL manifest of queries and relevant songs")
    _common(p)
    p.add_argument("manifest", type=Path, help="JSONL manifest (see data/dev.jsonl)")
    p.add_argument("--root", type=Path, help="library folder the manifest's paths are relative to "
                   "(default: <data-dir>/demo-library)")
    p.add_argument("--json", type=Path, help="also write the full report as JSON here")
    p.add_argument("--routes", action="store_true", help="also rank by each single route, to compare with the fusion")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("duplicates", help="list songs that are the same recording in other formats or masters")
    _common(p)
    p.add_argument("--min-share", type=float, help="share of prints that must match (default 0.5)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_duplicates)

    p = sub.add_parser("models", help="list or download model weights")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    for name, func, text in (("list", cmd_models_list, "show which weights are present"),
                             ("download", cmd_models_download, "fetch the full profile's weights (needs a network)")):
        mp = msub.add_parser(name, help=text)
        mp.add_argument("--model-dir", help="where the weights live")
        mp.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    for noisy in ("sentence_transformers", "httpx", "urllib3", "pymilvus", "milvus_lite"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        return args.func(args) or 0
    except CrossgenreError as exc:
        print(f"crossgenre: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("crossgenre: interrupted; run the same command again to carry on where it stopped", file=sys.stderr)
        return 130


def _config(args):
    from .config import load_config

    return load_config(
        getattr(args, "config", None),
        data_dir=getattr(args, "data_dir", None),
        milvus_uri=getattr(args, "milvus_uri", None),
        model_dir=getattr(args, "model_dir", None),
        profile=getattr(args, "profile", None),
        max_windows=getattr(args, "max_windows", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        library=getattr(args, "library", None) or None,
    )


def cmd_index(args) -> int:
    from encoders.device import configure_threads

    from .indexer import index_library
    from .workspace import open_for_indexing

    config = _config(args)
    for p in args.paths:
        if not Path(p).exists():
            raise CrossgenreError(f"library path {p} does not exist")
    configure_threads()
    ws = open_for_indexing(config, args.profile, rebuild=args.rebuild)
    try:
        report = index_library(ws, args.paths, progress=not args.quiet)
    finally:
        ws.close()
    print(report.summary())
    return EXIT_SKIPPED if report.failed else 0


def _query_from_args(args):
    from search import Query

    given = [x is not None for x in (args.text, args.audio, args.image)]
    if sum(given) != 1:
        raise CrossgenreError("give exactly one of: a text query, --audio FILE, --image FILE")
    for f in (args.audio, args.image):
        if f is not None and not f.is_file():
            raise CrossgenreError(f"{f} is not a file")
    return Query(
        text=args.text, audio=args.audio.read_bytes() if args.audio else None,
        image=args.image.read_bytes() if args.image else None, k=args.k, genre=args.genre, artist=args.artist,
        album=args.album, year_min=args.year_min, year_max=args.year_max, cross_genre=args.cross_genre,
        bpm_min=args.bpm_min, bpm_max=args.bpm_max, half_double=args.half_double, key=args.key,
        compatible_keys=args.compatible_keys, energy_min=args.energy_min, energy_max=args.energy_max,
    )


def cmd_search(args) -> int:
    from search import SearchEngine
    from search.musical import read_musical
    from search.wording import split_subject

    from .workspace import open_for_search

    query = _query_from_args(args)
    ws = open_for_search(_config(args), args.profile)
    try:
        hits = SearchEngine(ws).search(query)
    finally:
        ws.close()
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
    else:
        sound, subject = split_subject(query.text) if query.text is not None else ("", None)
        if subject:
            print(f'Read as sound "{sound}", about "{subject}"' if sound else f'Read as about "{subject}" (no sound named)')
        reading = read_musical(sound) if sound else None
        if reading:
            print(f"Read as music: {reading.summary()}")
        print(format_hits(hits))
    return 0


def format_hits(hits) -> str:
    """A ranked table: rank, score, title, artist, genre, and the strongest reasons."""
    if not hits:
        return "No songs matched."
    lines = [f"{'#':>3}  {'score':>7}  {'title':<32} {'artist':<20} {'genre':<12} why"]
    for h in hits:
        why = ", ".join(f"{r.route} {r.share:.0%}" for r in h.routes[:3])
        if h.segment:
            why += f"; {h.segment['start']:.0f}-{h.segment['end']:.0f} s"
        if h.lyric:
            why += f'; "{h.lyric["text"].splitlines()[0][:30]}"'
        genre = (h.song.get("genre") or "") + ("*" if h.song.get("genre_source") == "predicted" else "")
        lines.append(f"{h.rank:>3}  {h.score:7.4f}  {str(h.song.get('title'))[:32]:<32} "
                     f"{str(h.song.get('artist'))[:20]:<20} {genre[:12]:<12} {why}")
        if h.feel:
            lines.append(f"{'':>14}feel: {h.feel}")
    lines.append("(* genre predicted from the audio)")
    return "\n".join(lines)


def cmd_stats(args) -> int:
    from .stats import collect_stats, format_stats
    from .workspace import open_for_search

    ws = open_for_search(_config(args), args.profile)
    try:
        stats = collect_stats(ws)
    finally:
        ws.close()
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def cmd_fit(args) -> int:
    from .fusing import refit_if_needed
    from .workspace import open_for_indexing

    ws = open_for_indexing(_config(args), args.profile)
    try:
        refit_if_needed(ws, progress=True, force=True)
    finally:
        ws.close()
    return 0


def cmd_eval(args) -> int:
    from search import SearchEngine
    from search.evaluate import compare_routes, evaluate, load_manifest, routes_table

    from .indexer import song_id
    from .workspace import open_for_search

    config = _config(args)
    if not args.manifest.is_file():
        raise CrossgenreError(f"manifest {args.manifest} does not exist")
    try:
        manifest = load_manifest(args.manifest)
    except ValueError as exc:
        raise CrossgenreError(str(exc)) from None
    root = args.root or Path(config.data_dir) / "demo-library"
    ws = open_for_search(config, args.profile)
    try:
        engine = SearchEngine(ws)
        report = evaluate(engine, manifest, root, song_id)
        comparison = compare_routes(engine, manifest, root, song_id) if args.routes else None
    finally:
        ws.close()
    print(report.table())
    if comparison:
        print("\nFused ranking against each single route:")
        print(routes_table(comparison))
    if args.json:
        args.json.write_text(json.dumps({**report.to_dict(), "routes": comparison}, indent=2))
    return 0


def cmd_duplicates(args) -> int:
    from search.duplicates import MIN_SHARE, find_duplicates

    from .workspace import open_for_search

    ws = open_for_search(_config(args), args.profile)
    try:
        pairs = find_duplicates(ws.store, ws.profile.printer, args.min_share or MIN_SHARE)
        rows = ws.store.get_songs([x for p in pairs for x in (p.a, p.b)], ["id", "path", "title", "artist"])
    finally:
        ws.close()
    if args.json:
        print(json.dumps([{"a": rows[p.a], "b": rows[p.b], "share": round(p.share, 3)} for p in pairs], indent=2))
    elif not pairs:
        print("No duplicates found.")
    else:
        for p in pairs:
            print(f"{p.share:5.0%}  {rows[p.a]['path']}\n       {rows[p.b]['path']}")
    return 0


def cmd_serve(args) -> int:
    from .serve import serve

    return serve(_config(args), args.profile)


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(_config(args), args)


def cmd_models_list(args) -> int:
    from encoders.models import list_models

    from .config import default_model_dir

    model_dir = Path(args.model_dir) if args.model_dir else default_model_dir()
    print(f"Model directory: {model_dir}")
    for row in list_models(model_dir):
        print(f"  {'present' if row['present'] else 'missing':8} {row['file']}")
    return 0


def cmd_models_download(args) -> int:
    from encoders.models import download

    from .config import default_model_dir

    model_dir = Path(args.model_dir) if args.model_dir else default_model_dir()
    os.environ["HF_HUB_OFFLINE"] = "0"
    download(model_dir, progress=True)
    print(f"The full profile's weights are in {model_dir}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
