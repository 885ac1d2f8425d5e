"""Bits-per-byte against a direct computation from the logits, window handling, the cache, and the corpus."""
import dataclasses
import math

import pytest
import torch

from empirical import bpb, corpus, models

FIXED = "The quick brown fox jumps over the lazy dog. Café crème costs €3."


@pytest.fixture(scope="module")
def smol():
    return models.load("smollm2_135m")


def direct_bpb(m, text):
    """-log2 p of every token given the previous ones (BOS first), summed, over UTF-8 bytes; float64 softmax."""
    start = m.tokenizer.bos_token_id if m.tokenizer.bos_token_id is not None else m.tokenizer.eos_token_id
    ids = torch.tensor([[start] + m.tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        logp = torch.log_softmax(m.model(ids).logits[0].double(), dim=-1)
    nats = -sum(float(logp[t, ids[0, t + 1]]) for t in range(ids.shape[1] - 1))
    return nats / math.log(2) / len(text.encode("utf-8"))


def test_bpb_on_a_fixed_string_matches_the_logits(smol):
    got = bpb.bits_per_byte(smol, FIXED)
    assert len(FIXED.encode()) == len(FIXED) + 4  # é, è: 2 bytes each, €: 3
    assert got == pytest.approx(direct_bpb(smol, FIXED), rel=1e-4)
    assert 0.2 < got < 3.0


def test_bpb_with_bos_tokenizer_matches_the_logits():
    gemma = models.load("gemma3_270m")
    assert gemma.tokenizer.bos_token_id is not None
    assert bpb.bits_per_byte(gemma, FIXED) == pytest.approx(direct_bpb(gemma, FIXED), rel=1e-4)


def test_batching_and_padding_do_not_change_bits(smol):
    texts = [FIXED, "A frog.", "Two short words"]
    rows = bpb.token_bits(smol, texts)
    singles = [bpb.token_bits(smol, t)[0] for t in texts]
    for (b, n, c), (b1, n1, c1) in zip(rows, singles):
        assert (n, c) == (n1, c1) and b == pytest.approx(b1, rel=1e-4)
    assert bpb.bits_per_byte(smol, texts) == pytest.approx(sum(r[0] for r in rows) / sum(r[1] for r in rows))


def test_windows_score_every_token_once(smol):
    ids = list(range(100))
    w = bpb.windows(ids, 16)
    assert all(len(x) <= 16 for x in w) and [x[0] for x in w[1:]] == [x[-1] for x in w[:-1]]
    assert [t for x in w for t in x[1:]] == ids[1:]
    long = " ".join([FIXED] * 6)
    short_ctx = bpb.token_bits(smol, long, max_length=16)[0]
    full_ctx = bpb.token_bits(smol, long, max_length=512)[0]
    assert short_ctx[2] == full_ctx[2] == len(smol.tokenizer(long, add_special_tokens=False)["input_ids"])
    assert short_ctx[0] > full_ctx[0]  # less context, more surprise (the repeats are predictable)


def test_bpb_errors(smol):
    with pytest.raises(ValueError, match="must be a causal language model. Got 'minilm_l6'"):
        bpb.bits_per_byte(models.load("minilm_l6"), FIXED)
    with pytest.raises(ValueError, match="'texts' parameter of bits_per_byte"):
        bpb.bits_per_byte(smol, [])
    with pytest.raises(ValueError, match=r"The 'max_length' parameter of bits_per_byte must be >= 2\. Got 1 instead\."):
        bpb.bits_per_byte(smol, FIXED, max_length=1)


def test_bpb_cache_hit_skips_the_model(smol, tmp_path, monkeypatch):
    first = bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path, loaded=smol)
    assert first["bits_per_byte"] == pytest.approx(bpb.bits_per_byte(smol, FIXED))
    assert first["bytes"] == len(FIXED.encode())

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(bpb, "token_bits", boom)
    assert bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path) == first
    with pytest.raises(AssertionError, match="recomputed"):
        bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path, force=True)


def test_bpb_cache_places_big_models_and_keys_their_quantization(smol, tmp_path, monkeypatch):
    plain = bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path / "a", loaded=smol)
    spread = bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path / "b", device_map="auto")  # accelerate (CPU here)
    assert spread["bits_per_byte"] == pytest.approx(plain["bits_per_byte"], rel=1e-5)
    assert spread["key"] == plain["key"]  # where a model runs is not part of the key
    with pytest.raises(ValueError, match="'quantization' parameter of bpb.cached"):
        bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path / "a", quantization="8bit")

    # 4 bits needs CUDA: stand in a loader that returns the model marked as quantized
    loads = []
    monkeypatch.setattr(models, "check_placement", lambda *a, **k: (None, None))
    monkeypatch.setattr(models, "load", lambda *a, **k: loads.append(k) or
                        dataclasses.replace(smol, info={**smol.info, "quantization": "4bit"}))
    four = bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path / "a", quantization="4bit")
    assert loads == [{"device": "auto", "dtype": "float32", "device_map": None, "quantization": "4bit"}]
    assert four["key"] == {**plain["key"], "quantization": "4bit"}  # not answered by the full-precision entry
    assert bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path / "a", quantization="4bit") == four
    assert bpb.cached("smollm2_135m", [FIXED], cache_dir=tmp_path / "a") == plain and len(loads) == 1


def test_enwiki_corpus_is_plain_english():
    docs = corpus.enwiki()
    assert 80 <= len(docs) <= 106
    assert docs[0].startswith("Anarchism is a political philosophy")
    assert not any(s in d for d in docs for s in ("{{", "}}", "[[", "]]", "<ref", "'''"))
    cut = corpus.enwiki(max_articles=3, max_chars=500)
    assert len(cut) == 3 and all(len(d) <= 500 for d in cut) and cut[0] == docs[0][:len(cut[0])]
    with pytest.raises(ValueError, match="'max_chars' parameter of enwiki"):
        corpus.enwiki(max_chars=0)
