"""FitReport: what a fusion fit did and how well it retrieves across modalities on held-out songs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

# columns of the recall table, in order: no fitted map, least squares, the fitted heads
BASELINES = ("no fusion", "ridge", "fitted")
FEW_QUERIES = 20  # below this many queries a recall figure is mostly chance


@dataclass
class FitReport:
    """Figures of one fit.

    n_songs, n_train, n_val, n_test: songs in each part (val drives early stopping, test is only reported).
    pairs: modality -> songs that have it (each paired with its audio); methods: modality -> how its head
    was made ("identity", "contrastive", "ridge", "none"); fallback: why a simpler fit was used, or None.
    epochs, best_epoch, stopped_by ("patience", "max_epochs", "time_budget", "not trained"); seconds: wall
    time of the whole fit (s); temperature: the learned softmax temperature; val_loss: held-out loss per epoch.
    recall: "lyrics→audio" etc. -> column in BASELINES -> {"R@1", "R@10"} shares on the test songs;
    queries: same keys -> distinct queries asked; gallery: same keys -> test songs searched.
    """

    n_songs: int
    n_train: int
    n_val: int
    n_test: int
    seed: int
    pairs: dict[str, int]
    methods: dict[str, str]
    fallback: str | None = None
    epochs: int = 0
    best_epoch: int = 0
    stopped_by: str = "not trained"
    seconds: float = 0.0
    temperature: float | None = None
    val_loss: list[float] = field(default_factory=list)
    recall: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)
    gallery: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN recall becomes None)."""
        d = asdict(self)
        d["recall"] = {p: {c: {k: (None if v is None or math.isnan(v) else round(v, 4)) for k, v in r.items()} for c, r in cols.items()} for p, cols in self.recall.items()}
        d["val_loss"] = [round(v, 5) for v in self.val_loss]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FitReport":
        d = dict(d)
        d["recall"] = {p: {c: {k: (float("nan") if v is None else v) for k, v in r.items()} for c, r in cols.items()} for p, cols in d.get("recall", {}).items()}
        return cls(**d)

    def beats_baseline(self, pair: str, k: str = "R@10", baseline: str = "no fusion") -> bool:
        """Whether the fitted heads retrieve better than `baseline` on `pair` at `k`."""
        r = self.recall[pair]
        return r["fitted"][k] > r[baseline][k]

    def summary(self) -> str:
        """A readable multi-line account: split, heads, training, and the held-out recall table."""
        lines = [
            f"fusion fit: {self.n_songs} songs ({self.n_train} train / {self.n_val} val / {self.n_test} test), "
            f"seed {self.seed}, {self.seconds:.1f} s",
            "heads: " + ", ".join(f"{m} {how}" + (f" ({self.pairs[m]} songs)" if m in self.pairs else "") for m, how in self.methods.items()),
        ]
        if self.fallback:
            lines.append(f"fallback: {self.fallback}")
        if self.stopped_by != "not trained":
            lines.append(
                f"training: {self.epochs} epochs, best {self.best_epoch}, stopped by {self.stopped_by}, "
                f"temperature {self.temperature:.3f}, held-out loss {self.val_loss[0]:.3f} -> {min(self.val_loss):.3f}"
            )
        if self.recall:
            lines.append("held-out recall on test songs (R@1 / R@10):")
            lines.append(f"  {'pair':<15}{'queries':>8}{'gallery':>8}" + "".join(f"{c:>16}" for c in BASELINES))
            for pair, cols in self.recall.items():
                cells = "".join(f"{_fmt(cols[c]):>16}" for c in BASELINES)
                lines.append(f"  {pair:<15}{self.queries.get(pair, 0):>8}{self.gallery.get(pair, 0):>8}{cells}")
            few = [p for p in self.recall if self.queries.get(p, 0) < FEW_QUERIES]
            if few:
                lines.append(f"  ({', '.join(few)}: fewer than {FEW_QUERIES} queries, too few for the figures to mean much)")
        return "\n".join(lines)


def _fmt(r: dict[str, float]) -> str:
    return " / ".join("n/a" if math.isnan(v) else f"{v:.3f}" for v in (r["R@1"], r["R@10"]))
