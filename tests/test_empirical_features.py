"""Per-layer features (what each layer is) and the on-disk cache: miss, hit, resume after an interruption, force."""
import numpy as np
import pytest
import torch
from PIL import Image

from empirical import data, features, models


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """Ten small textured images with captions in a folder dataset."""
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / f"img{i:02d}.png")
        (root / f"img{i:02d}.txt").write_text(f"Picture number {i} of a noisy square.\n")
    return data.folder(root)


@pytest.fixture(scope="module")
def resnet():
    return models.load("resnet18_random")


@pytest.fixture(scope="module")
def vit():
    return models.load("vit_tiny_random")


def test_cnn_block_features_are_pooled_block_outputs(ds, resnet):
    f = features.extract(resnet, ds.load_images()[:3])
    assert [x.shape[1] for x in f] == [64, 64, 128, 128, 256, 256, 512, 512, 512]
    # ResNet's features end at the last block: its pooled output is the pre-logits embedding.
    torch.testing.assert_close(f[-2], f[-1])


def test_vit_block_features_are_class_tokens(ds, vit):
    imgs = ds.load_images()[:3]
    cls = features.extract(vit, imgs)
    avg = features.extract(vit, imgs, pooling="avg")
    # pre-logits of a class-token ViT = final norm of the last block's class token
    with torch.inference_mode():
        torch.testing.assert_close(vit.model.norm(cls[-2]), cls[-1], rtol=1e-4, atol=1e-5)
        x = torch.stack([vit.transform(im) for im in imgs])
        tokens = vit.model.blocks(vit.model._pos_embed(vit.model.patch_embed(x)))
    torch.testing.assert_close(cls[-2], tokens[:, 0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(avg[-2], tokens.mean(1), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="'pooling' parameter of extract must be one of"):
        features.extract(vit, imgs, pooling="mean")


def test_language_features_are_mask_means_of_hidden_states():
    m = models.load("minilm_l6")
    texts = ["A frog.", "A very long caption that needs a lot more tokens than the first one does."]
    f = features.extract(m, texts)
    enc = m.tokenizer(texts[:1], return_tensors="pt")
    with torch.inference_mode():
        hs = m.model(**enc, output_hidden_states=True).hidden_states
    for layer, h in zip(f, hs):
        torch.testing.assert_close(layer[0], h[0].mean(0), rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="must be strings for a language model"):
        features.extract(m, [1, 2])


def test_extract_validates_inputs(resnet):
    with pytest.raises(ValueError, match="at least one sample"):
        features.extract(resnet, [])
    with pytest.raises(ValueError, match=r"The 'batch_size' parameter of extract must be >= 1\. Got 0 instead\."):
        features.extract(resnet, [Image.new("RGB", (8, 8))], batch_size=0)


class Counter:
    """Wraps features.extract: counts calls and samples, optionally fails on the n-th call."""

    def __init__(self, fail_on=None):
        self.calls, self.samples, self.fail_on = 0, 0, fail_on
        self.real = features.extract

    def __call__(self, model, inputs, **kw):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt("simulated interruption")
        self.samples += len(inputs)
        return self.real(model, inputs, **kw)


def test_cache_miss_hit_resume_force(ds, resnet, tmp_path, monkeypatch):
    kw = dict(cache_dir=tmp_path, chunk_size=4, loaded=resnet)  # 10 samples -> chunks of 4, 4, 2
    reference = features.extract(resnet, ds.load_images())

    count = Counter(fail_on=3)
    monkeypatch.setattr(features, "extract", count)
    with pytest.raises(KeyboardInterrupt):
        features.cached("resnet18_random", ds, **kw)
    assert (count.calls, count.samples) == (3, 8)  # two chunks finished before the interruption
    entry = features.entry_dir(features.cache_key("resnet18_random", ds), tmp_path)
    # chunk files name their sample range, so another chunk_size never reuses a chunk of different rows
    assert sorted(p.name for p in entry.glob("chunk-*.pt")) == ["chunk-000000-000004.pt", "chunk-000004-000008.pt"]
    assert not list(entry.glob("*.tmp"))  # atomic writes leave no partial file

    count = Counter()
    monkeypatch.setattr(features, "extract", count)
    resumed = features.cached("resnet18_random", ds, **kw)
    assert (count.calls, count.samples) == (1, 2)  # only the unfinished chunk
    for a, b in zip(resumed, reference):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)

    count = Counter()
    monkeypatch.setattr(features, "extract", count)
    hit = features.cached("resnet18_random", ds, cache_dir=tmp_path, chunk_size=4)  # no model needed on a hit
    assert count.calls == 0 and len(hit) == 9
    assert all(torch.equal(a, b) for a, b in zip(hit, resumed))

    features.cached("resnet18_random", ds, force=True, **kw)
    assert (count.calls, count.samples) == (3, 10)


def test_cache_key_changes_with_what_changes_features(ds, tmp_path):
    base = features.cache_key("resnet18_random", ds)
    other = [features.cache_key("resnet18_random", ds, dtype="bfloat16"),
             features.cache_key("resnet18_random", ds, pooling="cls"),
             features.cache_key("resnet18_random", ds.subset(5, seed=0)),
             features.cache_key("vit_tiny_random", ds),
             features.cache_key("minilm_l6", ds),
             features.cache_key("minilm_l6", ds.with_captions(["x"] * len(ds), ds.name))]  # same ids, new text
    dirs = {features.entry_dir(k, tmp_path) for k in [base, *other]}
    assert len(dirs) == 1 + len(other)
    assert features.entry_dir(base, tmp_path) == features.entry_dir(features.cache_key("resnet18_random", ds),
                                                                    tmp_path)
    assert base["version"] == features.FEATURE_VERSION
