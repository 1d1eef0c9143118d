"""musicnn in ONNX Runtime: float32 against INT8 variants, CPU time of the network and window-vector cosine.

    .venv/bin/python bench/musicnn_int8.py     # ~5 min here

Variants of static INT8 (QDQ, per-channel int8 weights, uint8 activations calibrated with MinMax on
every window of the 4 demo tracks that encoders.musicnn calibrates on) over different sets of
convolutions, and the graph optimisation level they run at. Cosine: each window vector of the other 24
demo tracks against ONNX Runtime float32's. Time: process CPU time of 40 windows in batches of 16,
2 threads, variants taking turns for --rounds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import report  # noqa: E402  (bench/report.py, beside this file)

TIMBRAL = ["/timbral.0/Conv", "/timbral.1/Conv"]
MIDEND = [f"/midend.{i}/conv/Conv" for i in range(3)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    args = parser.parse_args(argv)
    report.prepare_torch()
    import immich_memories_music
    import onnxruntime as ort
    import soundfile as sf
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from scipy.signal import resample_poly

    from encoders import musicnn

    info = {"date": report.now(), "command": report.command("musicnn_int8.py", argv), "machine_before": report.machine()}
    net, _ = musicnn.load_model()
    folded = musicnn.float_graph(net)
    tracks = sorted(immich_memories_music.tracks_dir().glob("*/*.opus"))
    held_out = [t for t in tracks if t not in tracks[::7][: musicnn.CALIBRATION_TRACKS]]
    logmel = musicnn.LogMel()

    def windows(path: Path) -> np.ndarray:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
        spec = logmel(resample_poly(audio.mean(axis=1), musicnn.SAMPLE_RATE, sr).astype(np.float32)).numpy()
        return np.stack([spec[f : f + musicnn.PATCH_FRAMES] for f in range(0, len(spec) - musicnn.PATCH_FRAMES + 1, musicnn.PATCH_FRAMES)])

    test = np.concatenate([windows(t) for t in held_out])

    class Patches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(musicnn.calibration_patches())

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"patches": batch}

    def quantized(nodes: list[str] | None = None, ops: list[str] | None = None) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
            source.write_bytes(folded)
            quantize_static(str(source), str(target), Patches(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_quantize=nodes, op_types_to_quantize=ops)
            return target.read_bytes()

    ALL, EXT = ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    graphs = {"float32": folded, "int8 everywhere": quantized(), "int8 convolutions": quantized(ops=["Conv"]),
              "int8 timbral + mid-end": quantized(TIMBRAL + MIDEND), "int8 timbral": quantized(TIMBRAL),
              "int8 timbral, max before dequantize": musicnn.quantize_timbral(folded)}
    variants = {"float32, level ALL": (graphs["float32"], ALL)}
    variants.update({f"{name}, level ALL": (graphs[name], ALL) for name in list(graphs)[1:5]})
    variants["int8 timbral, level EXTENDED"] = (graphs["int8 timbral"], EXT)
    variants["int8 timbral, max before dequantize, level EXTENDED (default)"] = (graphs["int8 timbral, max before dequantize"], EXT)

    def session(graph: bytes, level):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.graph_optimization_level = level
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    sessions = {name: session(*v) for name, v in variants.items()}

    def run(s, x):
        return np.concatenate([s.run(None, {"patches": x[i : i + 16]})[0] for i in range(0, len(x), 16)])

    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    reference = unit(run(sessions["float32, level ALL"], test))
    cosine = {}
    for name, s in sessions.items():
        c = (unit(run(s, test)) * reference).sum(axis=1)
        cosine[name] = {"min": round(float(c.min()), 4), "mean": round(float(c.mean()), 5)}
    forty = test[:40]
    cpu = dict.fromkeys(sessions, 0.0)
    for _ in range(args.rounds):
        for name, s in sessions.items():
            start = time.process_time()
            run(s, forty)
            cpu[name] += time.process_time() - start
    base = cpu["float32, level ALL"]
    rows = {name: {"cpu_s_per_40_windows": round(cpu[name] / args.rounds, 3), "relative_cpu": round(cpu[name] / base, 2),
                   "cosine_to_float32": cosine[name]} for name in sessions}
    for name, r in rows.items():
        print(f"{name:62} {r['relative_cpu']:.2f}  cosine min {r['cosine_to_float32']['min']:.4f} mean {r['cosine_to_float32']['mean']:.5f}")
    out = {**info, "held_out_windows": len(test), "rounds": args.rounds, "variants": rows, "machine_after": report.machine()}
    print(f"wrote {report.write('musicnn_int8', out, args.out)}")
    return out


if __name__ == "__main__":
    main()
