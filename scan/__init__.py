"""The scan room: a music library in, Track records and decoded samples out.

find_audio_files walks folders; read_track reads one file's tags, lyrics and cover; decode_audio
turns a file or uploaded bytes into mono float32 samples; content_hash tells changed files apart.
"""

from scan.decode import decode_audio, probe_duration
from scan.reader import content_hash, read_track
from scan.track import Track
from scan.walk import find_audio_files

__all__ = ["Track", "content_hash", "decode_audio", "find_audio_files", "probe_duration", "read_track"]
