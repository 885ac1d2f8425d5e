"""Issue 11, item 3: big language models. Placement (device_map through accelerate), precision ('auto': bfloat16 on
GPUs that support it), optional 4-bit loading, exact masked means whatever side the tokenizer pads, batch sizes
halved on out-of-memory, and what every results.json and cache key records (precision, batch size, pooling,
layers, clamp). What needs a GPU (bfloat16 on a real device, 4-bit, spreading over several GPUs) is checked here
through its configuration only."""
import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from empirical import data, features, models

TEXTS = ["A frog.", "A red double-decker bus on a London street, seen from the side, in the rain at dusk.",
         "Two cats."]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(7)]


@pytest.fixture(scope="module")
def resnet():
    return models.load("resnet18_random")


# ---------------------------------------------------------------- padding


def test_right_padded_moves_kept_tokens_first_in_order():
    enc = {"input_ids": torch.tensor([[0, 0, 5, 6, 7], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9]]),
           "attention_mask": torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]]),
           "token_type_ids": torch.zeros(3, 5, dtype=torch.long), "other": "kept"}
    out = features.right_padded(enc)
    assert out["input_ids"].tolist() == [[5, 6, 7, 0, 0], [1, 2, 3, 4, 5], [9, 0, 0, 0, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert out["other"] == "kept"
    right = {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}
    assert features.right_padded(right)["input_ids"] is right["input_ids"]  # nothing to do


@pytest.mark.parametrize("name", ["smollm2_135m", "minilm_l6"])  # rotary positions (causal), learned absolute
def test_left_padding_gives_exactly_the_features_of_right_padding(name):
    m = models.load(name)
    right = features.extract(m, TEXTS, batch_size=3)
    m.tokenizer.padding_side = "left"  # as the paper's code pads
    try:
        left = features.extract(m, TEXTS, batch_size=3)
    finally:
        m.tokenizer.padding_side = "right"
    assert all(torch.equal(a, b) for a, b in zip(left, right))
    alone = features.extract(m, TEXTS[:1])  # the short text padded among long ones = the text alone
    for a, b in zip(left, alone):
        torch.testing.assert_close(a[:1], b, rtol=1e-3, atol=5e-4)


def test_padding_never_enters_the_mean_even_where_the_model_leaves_nan():
    tok = models.load("minilm_l6").tokenizer

    class Fake(torch.nn.Module):
        @property
        def base_model(self):
            return self

        def forward(self, input_ids, attention_mask, output_hidden_states=True, **kw):
            h = input_ids.float().unsqueeze(-1).repeat(1, 1, 2)
            h[attention_mask == 0] = float("nan")  # garbage where nothing is attended
            return SimpleNamespace(hidden_states=(h, 2 * h))

    m = models.Loaded("fake", "language", Fake(), torch.device("cpu"), torch.float32, tokenizer=tok)
    f = features.extract(m, ["a", "a much longer text here"], batch_size=2)
    ids = tok(["a"])["input_ids"][0]
    assert torch.isfinite(f[0]).all() and f[0][0, 0].item() == pytest.approx(np.mean(ids))
    assert f[1][0, 0].item() == pytest.approx(2 * np.mean(ids))


# ---------------------------------------------------------------- out of memory


class OOMAbove:
    """Wraps features._vision_batch: raises torch.OutOfMemoryError on batches larger than `limit`."""

    def __init__(self, limit):
        self.limit, self.sizes, self.real = limit, [], features._vision_batch

    def __call__(self, m, batch, pooling):
        self.sizes.append(len(batch))
        if len(batch) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")
        return self.real(m, batch, pooling)


def test_out_of_memory_halves_the_batch_and_keeps_the_smaller_size(resnet, images, monkeypatch):
    reference = features.extract(resnet, images, batch_size=2)
    oom = OOMAbove(2)
    monkeypatch.setattr(features, "_vision_batch", oom)
    report = {}
    with pytest.warns(features.BatchSizeReduced) as caught:
        got = features.extract(resnet, images, batch_size=8, report=report)
    assert [str(w.message) for w in caught] == [
        f"resnet18_random ran out of memory on cpu at batch size {a}; retrying at {b}." for a, b in ((7, 4), (4, 2))]
    assert oom.sizes == [7, 4, 2, 2, 2, 1]  # batch size 8 (7 left) -> 4 -> 2, then 2s: never back up
    assert report == {"batch_size": 2, "oom_retries": 2}
    assert all(torch.equal(a, b) for a, b in zip(got, reference))  # the same batches as batch_size=2


def test_out_of_memory_at_batch_size_one_is_a_clear_error(resnet, images, monkeypatch):
    monkeypatch.setattr(features, "_vision_batch", OOMAbove(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", features.BatchSizeReduced)
        with pytest.raises(RuntimeError, match=r"runs out of memory on cpu even one sample at a time.*"
                                               r"device_map='auto'.*quantization='4bit'"):
            features.extract(resnet, images[:2], batch_size=2)


def test_other_errors_are_not_retried(resnet, images, monkeypatch):
    def broken(m, batch, pooling):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(features, "_vision_batch", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        features.extract(resnet, images[:2])


def test_cache_carries_the_reduced_batch_size_and_records_it(resnet, images, tmp_path, monkeypatch):
    for i, img in enumerate(images):
        img.save(tmp_path / f"i{i}.png")
        (tmp_path / f"i{i}.txt").write_text(f"image {i}")
    ds = data.folder(tmp_path)
    oom = OOMAbove(2)
    monkeypatch.setattr(features, "_vision_batch", oom)
    report = {}
    with pytest.warns(features.BatchSizeReduced):
        first = features.cached("resnet18_random", ds, cache_dir=tmp_path / "c", chunk_size=4, batch_size=4,
                                loaded=resnet, report=report)
    assert oom.sizes == [4, 2, 2, 2, 1]  # chunk [0, 4): 4 fails, 2 + 2; chunk [4, 7): starts at 2
    assert report["batch_size"] == 4 and report["effective_batch_size"] == 2 and report["computed"] == 7
    entry = features.entry_dir(features.cache_key("resnet18_random", ds, batch_size=4), tmp_path / "c")
    assert json.loads((entry / "chunk-000000-000004.meta.json").read_text()) == {"batch_size": 2, "oom_retries": 1}
    hit = {}
    again = features.cached("resnet18_random", ds, cache_dir=tmp_path / "c", chunk_size=4, batch_size=4, report=hit)
    assert hit["effective_batch_size"] == 2 and hit["computed"] == 0
    assert all(torch.equal(a, b) for a, b in zip(first, again))


# ---------------------------------------------------------------- precision and placement


def test_dtype_auto_is_bfloat16_on_gpus_that_support_it(monkeypatch):
    assert models.resolve_dtype("auto", "cpu") == "float32" and models.resolve_dtype("float16", "cpu") == "float16"
    assert models.load("resnet18_random", dtype="auto").dtype == torch.float32  # this machine: a CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for major, want in ((9, "bfloat16"), (8, "bfloat16"), (7, "float32")):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None, major=major: (major, 0))
        assert models.resolve_dtype("auto", torch.device("cuda:0")) == want
    with pytest.raises(ValueError, match="'dtype' parameter of load must be one of float32, bfloat16, float16, auto"):
        models.resolve_dtype("half", "cpu")


def test_device_map_auto_places_a_language_model_with_accelerate():
    spread = models.load("minilm_l6", device_map="auto")  # this machine: everything on the CPU
    plain = models.load("minilm_l6")
    assert spread.info["device_map"] == "auto" and spread.info["devices"] == ["cpu"]
    assert spread.device == torch.device("cpu")
    a, b = features.extract(spread, TEXTS), features.extract(plain, TEXTS)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_placement_errors_before_loading(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "bitsandbytes" else real(n, *a))
    with pytest.raises(ImportError, match=r"'4bit' needs `pip install bitsandbytes==0\.50\.2`"):
        models.load("smollm2_135m", quantization="4bit")
    with pytest.raises(ValueError, match="'quantization' parameter of load must be one of 4bit"):
        models.load("smollm2_135m", quantization="8bit")
    with pytest.raises(ValueError, match="'device_map' parameter of load must be None for a vision model"):
        models.load("resnet18_random", device_map="auto")
    with pytest.raises(ValueError, match="'device' parameter of load must be 'auto' when a device_map places"):
        models.load("minilm_l6", device="cpu", device_map="auto")
    with pytest.raises(ValueError, match="'device_map' parameter of load must be one of auto, balanced"):
        models.load("minilm_l6", device_map="everywhere")
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "bitsandbytes" else real(n, *a))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'quantization' parameter of load must be None on a machine without "
                                             "a CUDA GPU"):
            models.load("smollm2_135m", quantization="4bit")


def test_four_bit_loading_asks_transformers_for_nf4_double_quantised_weights():
    try:
        kw = models.hf_load_kwargs(torch.bfloat16, None, "4bit")
    except ImportError as e:  # transformers' BitsAndBytesConfig may want bitsandbytes itself
        pytest.skip(f"BitsAndBytesConfig needs bitsandbytes here: {e}")
    cfg = kw["quantization_config"]
    assert kw["device_map"] == "auto" and kw["dtype"] == torch.bfloat16
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant
    assert cfg.bnb_4bit_compute_dtype == torch.bfloat16
    assert models.hf_load_kwargs(torch.float32, "balanced") == {"dtype": torch.float32, "device_map": "balanced"}


# ---------------------------------------------------------------- layers and what is recorded


def test_layers_keeps_the_chosen_layers(resnet, images):
    every = features.extract(resnet, images[:3])
    some = features.extract(resnet, images[:3], layers=[0, 8, 3])
    assert len(some) == 3 and all(torch.equal(a, every[i]) for a, i in zip(some, [0, 3, 8]))  # sorted
    with pytest.raises(ValueError, match=r"'layers' parameter of extract must hold indices in \[0, 8\] "
                                         r"\(resnet18_random has 9 layers\)"):
        features.extract(resnet, images[:3], layers=[9])
    with pytest.raises(ValueError, match="'layers' parameter of extract must hold distinct layer indices"):
        features.extract(resnet, images[:3], layers=[1, 1])
    with pytest.raises(ValueError, match=r"'layers\[0\]' parameter of extract must be >= 0"):
        features.extract(resnet, images[:3], layers=[-1])


def test_cache_key_holds_precision_batch_size_pooling_layers_and_clamp(tmp_path, images):
    for i, img in enumerate(images):
        img.save(tmp_path / f"i{i}.png")
        (tmp_path / f"i{i}.txt").write_text(f"image {i}")
    ds = data.folder(tmp_path)
    key = features.cache_key("resnet18_random", ds)
    assert {k: key[k] for k in ("dtype", "quantization", "batch_size", "pooling", "layers", "clamp")} == {
        "dtype": "float32", "quantization": None, "batch_size": 16, "pooling": "auto", "layers": None, "clamp": None}
    variants = [dict(batch_size=8), dict(layers=[0, 1]), dict(pooling="cls"), dict(dtype="bfloat16")]
    digests = {features.entry_dir(features.cache_key("resnet18_random", ds, **v), tmp_path) for v in variants}
    assert len(digests | {features.entry_dir(key, tmp_path)}) == 1 + len(variants)
    assert features.cache_key("resnet18_random", ds, dtype="auto") == key  # 'auto' is keyed as what it is here
    rep = {}
    feats = features.cached("resnet18_random", ds, cache_dir=tmp_path / "c", layers=[0, 8], report=rep)
    assert {k: rep[k] for k in ("dtype", "quantization", "batch_size", "effective_batch_size", "pooling", "layers",
                                "n_layers", "widths", "clamp")} == {
        "dtype": "float32", "quantization": None, "batch_size": 16, "effective_batch_size": 16, "pooling": "auto",
        "layers": [0, 8], "n_layers": 2, "widths": [64, 512], "clamp": {"cached": None, "q": None}}
    assert len(feats) == 2


REQUIRED = {"dtype", "quantization", "batch_size", "effective_batch_size", "pooling", "layers", "clamp"}


def test_results_json_records_each_models_extraction(tmp_path):
    from platonic_core import experiment

    res = experiment.run("cross_modal", tmp_path / "out", quiet=True, vision_models=["vit_tiny_random"],
                         language_models=["minilm_l6"], n_samples=12, k=3, n_perm=2, device="cpu",
                         cache_dir=str(tmp_path / "cache"), corpus_articles=1, corpus_chars=200)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())["results"]["extraction"]
    assert set(saved) == {"vit_tiny_random", "minilm_l6"} == set(res["extraction"])
    for rec in saved.values():
        assert REQUIRED <= set(rec) and rec["clamp"] == {"cached": None, "q": 0.95} and rec["dtype"] == "float32"


def test_experiments_with_language_models_place_them_as_bank_and_score_do(tmp_path):
    """cross_modal, caption_density and sample_size take device_map and quantization for their language models:
    spread through accelerate (on the CPU here), the same features and bits-per-byte as on one device."""
    from platonic_core import experiment

    tiny = dict(vision_models=["vit_tiny_random"], language_models=["smollm2_135m"], n_samples=12, k=3, n_perm=2,
                n_boot=0, device="auto", corpus_articles=1, corpus_chars=200)
    one = experiment.run("cross_modal", tmp_path / "one", quiet=True, cache_dir=str(tmp_path / "c1"), **tiny)
    spread = experiment.run("cross_modal", tmp_path / "spread", quiet=True, cache_dir=str(tmp_path / "c2"),
                            device_map="auto", **tiny)
    assert spread["extraction"]["smollm2_135m"]["device_map"] == "auto"
    assert spread["extraction"]["vit_tiny_random"]["device_map"] is None  # vision models stay on their device
    assert one["extraction"]["smollm2_135m"]["device_map"] is None
    assert spread["bits_per_byte"]["smollm2_135m"] == pytest.approx(one["bits_per_byte"]["smollm2_135m"], rel=1e-5)
    layer_scores = [r["pairs"]["mutual_knn"][0][0]["layer_scores"] for r in (one, spread)]
    assert np.asarray(layer_scores[1]) == pytest.approx(np.asarray(layer_scores[0]))
    for name in ("cross_modal", "caption_density", "sample_size", "colour"):
        with pytest.raises(ValueError, match=f"'device' parameter of {name} must be 'auto' when a device_map"):
            experiment.resolve(name, {"device": "cpu", "device_map": "auto"})
        with pytest.raises(ValueError, match=f"'quantization' parameter of {name} must be one of"):
            experiment.resolve(name, {"quantization": "8bit"})


def test_colour_word_embeddings_of_a_placed_model_are_those_of_one_device():
    from empirical.experiments import colour

    cfg = {**colour.DEFAULTS, "device": "auto", "dtype": "float32", "batch_size": 4}
    records = {}
    one = colour.word_embeddings("minilm_l6", ["red", "green", "blue"], cfg, records)
    spread = colour.word_embeddings("minilm_l6", ["red", "green", "blue"], {**cfg, "device_map": "auto"}, records)
    assert len(one) == len(spread) and all(np.allclose(a, b, atol=1e-6) for a, b in zip(one, spread))
    assert records["minilm_l6"]["device_map"] == "auto" and records["minilm_l6"]["quantization"] is None


@pytest.mark.slow
def test_every_empirical_experiment_records_extraction(tmp_path):
    from platonic_core import experiment
    from tests.test_experiments import TINY

    for name in experiment.names("empirical"):
        settings = dict(TINY[name])
        if name == "colour":  # its tiny configuration measures pixels only
            settings["language_models"] = ["minilm_l6"]
        if "cache_dir" in experiment.get(name).defaults:
            settings["cache_dir"] = str(tmp_path / "cache")
        res = experiment.run(name, tmp_path / name, quiet=True, **settings)
        recs = res["extraction"]
        flat = [r for v in recs.values() for r in (v.values() if "dtype" not in v else [v])]
        assert flat and all(REQUIRED <= set(r) for r in flat), name
