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

# Nothing may reach a model hub unless the user runs `crossgenre models download` (and even that not when
# the user set HF_HUB_OFFLINE themselves).
USER_HUB_OFFLINE = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from encoders.device import passive_idle_threads  # noqa: E402

passive_idle_threads()  # before anything imports torch

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
    p.add_argument("--batch-size", type=int, help="songs written to the index at a time (default 16)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--exact", action="store_true",
                   help="embed audio with the slow reference path (torch fp32, whole-song front end) instead of "
                        "the fast one (ONNX Runtime on a CPU, fp16 on a GPU); the vectors agree within rounding")
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
    _playlist_args(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("similar", help="songs like a song of the library (nothing is encoded)")
    _common(p)
    p.add_argument("song", help='a song: its id, its file\'s path, or "artist - title"')
    p.add_argument("--but", metavar="TEXT", help='like this, but ...: a description that moves the song\'s sound '
                   'toward it, e.g. --but "acoustic guitar"')
    _song_options(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("mix", help="songs like several songs, ordered for listening")
    _common(p)
    p.add_argument("songs", nargs="+", help='seed songs: ids, paths, or "artist - title"')
    p.add_argument("--not", dest="negative", action="append", default=[], metavar="SONG",
                   help="a song the mix should not be like (repeatable)")
    _song_options(p)
    p.set_defaults(func=cmd_mix)

    p = sub.add_parser("path", help="a path of songs that moves smoothly from one song to another")
    _common(p)
    p.add_argument("start", metavar="A", help="the first song"), p.add_argument("end", metavar="B", help="the last song")
    p.add_argument("--steps", type=int, default=5, help="songs between the two (default 5)")
    _song_options(p)
    p.set_defaults(func=cmd_path)

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

    p = sub.add_parser("subsonic", help="send playlists to a Subsonic-API server (Navidrome, Airsonic, ...)")
    ssub = p.add_subparsers(dest="subsonic_command", required=True, metavar="ACTION")
    sp = ssub.add_parser("push", help="create or replace a named playlist there, matched to its songs "
                         "(password in CROSSGENRE_SUBSONIC_PASSWORD)")
    _common(sp)
    sp.add_argument("name", help="the playlist's name on the server")
    given = sp.add_mutually_exclusive_group(required=True)
    given.add_argument("--m3u", type=Path, metavar="FILE", help="the songs of a playlist crossgenre wrote (--m3u)")
    given.add_argument("--similar", metavar="SONG", help="songs like this one")
    sp.add_argument("-k", type=int, default=20, help="how many songs with --similar (default 20)")
    sp.add_argument("--url", help="the server, e.g. http://127.0.0.1:4533 (default: subsonic_url in the "
                    "configuration, or CROSSGENRE_SUBSONIC_URL)")
    sp.add_argument("--user", help="the user on the server (default: subsonic_user, or CROSSGENRE_SUBSONIC_USER)")
    sp.add_argument("--library-root", action="append", default=[], metavar="DIR",
                    help="the server's music folder as crossgenre sees it, for matching by path "
                         "(default: the configured library folders)")
    sp.set_defaults(func=cmd_subsonic_push)

    p = sub.add_parser("models", help="list or download model weights")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    for name, func, text in (("list", cmd_models_list, "show which weights are present"),
                             ("download", cmd_models_download, "fetch the full profile's weights (needs a network)")):
        mp = msub.add_parser(name, help=text)
        mp.add_argument("--model-dir", help="where the weights live")
        mp.set_defaults(func=func)
    return parser


def _playlist_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--m3u", type=Path, metavar="FILE", help="also write the songs as an M3U8 playlist")
    p.add_argument("--m3u-base", metavar="DIR", help="write the playlist's paths relative to this folder "
                   "(default: absolute paths)")


def _song_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", type=int, default=10, help="how many songs (default 10)")
    p.add_argument("--max-per-artist", type=int, metavar="N", help="at most N songs of one artist")
    p.add_argument("--max-per-album", type=int, metavar="N", help="at most N songs of one album")
    p.add_argument("--exclude-album", action="store_true", help="no song of the seed's album")
    p.add_argument("--genre"), p.add_argument("--year-min", type=int), p.add_argument("--year-max", type=int)
    p.add_argument("--min-duration", type=float, metavar="S"), p.add_argument("--max-duration", type=float, metavar="S")
    p.add_argument("--folder", help="only songs whose files lie under this folder")
    p.add_argument("--cross-genre", action="store_true", help="only songs of other genres than the seed's")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _playlist_args(p)


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
        batch_size=getattr(args, "batch_size", None),
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
    ws = open_for_indexing(config, args.profile, rebuild=args.rebuild, exact=args.exact)
    try:
        report = index_library(ws, args.paths, progress=not args.quiet)
    finally:
        ws.close()
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else report.summary())
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

    from .workspace import open_for_search

    query = _query_from_args(args)
    ws = open_for_search(_config(args), args.profile)
    try:
        answer = SearchEngine(ws).answer(query)
        _write_playlist(args, answer.hits, ws.store)
    finally:
        ws.close()
    if args.json:
        print(json.dumps([h.to_dict() for h in answer.hits], indent=2, ensure_ascii=False))
    else:
        print(format_reading(answer.reading))
        print(format_hits(answer.hits))
    return 0


def format_reading(reading) -> str:
    """One line: how the engine read the query (its sound part and subject, the genre it moved away from)."""
    parts = []
    if reading.subject:
        parts.append(f'sound "{reading.sound}", about "{reading.subject}"' if reading.sound
                     else f'about "{reading.subject}" (no sound named)')
    if reading.music:
        parts.append(f"music: {reading.music}")
    if reading.genre:
        parts.append(f"away from {reading.genre}")
    return f"Read as {'; '.join(parts)}; routes: {', '.join(reading.routes)}" if parts else f"Routes: {', '.join(reading.routes)}"


def _open_songs(args):
    from search.similar import SongOptions, SongSearch

    from .workspace import open_for_search

    options = SongOptions(k=args.k, max_per_artist=args.max_per_artist, max_per_album=args.max_per_album,
                          exclude_seed_album=args.exclude_album, genre=args.genre, year_min=args.year_min,
                          year_max=args.year_max, duration_min=args.min_duration, duration_max=args.max_duration,
                          folder=args.folder, cross_genre=args.cross_genre)
    options.validate()
    ws = open_for_search(_config(args), args.profile)
    return ws, SongSearch(ws.store), options


def _songs_command(args, run) -> int:
    """Open the index, run `run(songs, options)` for its hits, print them (and write the playlist)."""
    ws, songs, options = _open_songs(args)
    try:
        hits = run(songs, options, ws)
        _write_playlist(args, hits, ws.store)
    finally:
        ws.close()
    print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False) if args.json else format_hits(hits))
    return 0


def cmd_similar(args) -> int:
    from search.similar import text_modifier

    def run(songs, options, ws):
        modifier = text_modifier(ws, args.but) if args.but else None  # the workspace holds profile and model lock
        return songs.similar(songs.resolve(args.song), options, modifier=modifier)

    return _songs_command(args, run)


def cmd_mix(args) -> int:
    return _songs_command(args, lambda songs, options, _: songs.mix(
        [songs.resolve(s) for s in args.songs], [songs.resolve(s) for s in args.negative], options))


def cmd_path(args) -> int:
    return _songs_command(args, lambda songs, options, _: songs.path(
        songs.resolve(args.start), songs.resolve(args.end), args.steps, options))


def _write_playlist(args, hits, store) -> None:
    """Write --m3u FILE: each song's file path, absolute or relative to --m3u-base."""
    if not args.m3u:
        return
    from search.playlist import m3u8

    rows = store.get_songs([h.id for h in hits], ["id", "path"])
    entries = [{"location": rows[h.id]["path"], **{k: h.song.get(k) for k in ("duration", "artist", "title")}}
               for h in hits if h.id in rows]
    try:
        args.m3u.write_text(m3u8(entries, args.m3u_base), encoding="utf-8")
    except OSError as exc:
        raise CrossgenreError(f"cannot write the playlist {args.m3u}: {exc.strerror}") from None
    print(f"Wrote {len(entries)} songs to {args.m3u}", file=sys.stderr)


def format_hits(hits) -> str:
    """A ranked table: rank, score, title, artist, genre, and the strongest reasons."""
    if not hits:
        return "No songs matched."
    lines = [f"{'#':>3}  {'score':>7}  {'title':<32} {'artist':<20} {'genre':<12} why"]
    for h in hits:
        why = ", ".join(f"{r.route} {r.share:.0%}" for r in h.routes[:3])
        if h.segment:
            why += f"; {h.segment['start']:.0f}-{h.segment['end']:.0f} s"
            if "seed" in h.segment:
                why += f" ~ seed's {h.segment['seed']['start']:.0f}-{h.segment['seed']['end']:.0f} s"
        if h.seed and "position" in h.seed:
            why = ("start" if h.seed["position"] == 0 else "end" if h.seed.get("endpoint") else
                   f"{h.seed['position']:.0%} of the way; " + why)
        if h.lyric:
            why += f'; "{h.lyric["text"].splitlines()[0][:30]}"'
        genre = (h.song.get("genre") or "") + ("*" if h.song.get("genre_source") == "predicted" else "")
        lines.append(f"{h.rank:>3}  {h.score:7.4f}  {str(h.song.get('title'))[:32]:<32} "
                     f"{str(h.song.get('artist'))[:20]:<20} {genre[:12]:<12} {why}")
        if getattr(h, "feel", ""):
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
        pairs = find_duplicates(ws.store, args.min_share or MIN_SHARE)
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


def cmd_subsonic_push(args) -> int:
    from search.similar import SongOptions, SongSearch

    from .subsonic import SubsonicClient, credentials, push
    from .workspace import open_for_search

    config = _config(args)
    url, user, password = credentials(args.url or config.subsonic_url, args.user or config.subsonic_user)
    ws = open_for_search(config, args.profile)
    try:
        fields = ["id", "path", "artist", "title", "album", "duration"]
        if args.similar:
            songs = SongSearch(ws.store)
            hits = songs.similar(songs.resolve(args.similar), SongOptions(k=args.k))
            rows = ws.store.get_songs([h.id for h in hits], fields)
            chosen = [rows[h.id] for h in hits if h.id in rows]
        else:
            chosen = _songs_of_playlist(args.m3u, ws.store, fields)
    finally:
        ws.close()
    report = push(SubsonicClient(url, user, password), args.name, chosen, args.library_root or list(config.library))
    print(report.summary())
    return 0


def _songs_of_playlist(path: Path, store, fields) -> list[dict]:
    """The indexed songs an M3U8 playlist lists, in its order (file paths, or this server's audio URLs)."""
    import re

    from store import quote_list

    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8-sig").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise CrossgenreError(f"cannot read the playlist {path}: {exc}") from None
    wanted = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        m = re.search(r"/api/songs/([0-9a-f]{16})/audio", line)
        wanted.append(("id", m.group(1)) if m else ("path", str((path.parent / line).resolve())))
    rows = store.get_songs([v for k, v in wanted if k == "id"], fields)
    paths = [v for k, v in wanted if k == "path"]
    by_path = {r["path"]: r for i in range(0, len(paths), 500)
               for r in store.iter_songs(fields, filter=f"path in {quote_list(paths[i:i + 500])}")}
    found = [(rows if k == "id" else by_path).get(v) for k, v in wanted]
    missing = [v for (k, v), row in zip(wanted, found) if row is None]
    if missing:
        print(f"crossgenre: {len(missing)} entries of {path} are not in the index, e.g. {missing[0]}", file=sys.stderr)
    return [row for row in found if row is not None]


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
    download(model_dir, progress=True, offline=USER_HUB_OFFLINE)
    print(f"The full profile's weights are in {model_dir}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
