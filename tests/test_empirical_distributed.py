"""Issue 11, item 5: feature extraction across processes with Lightning (Trainer.predict, DDP, gloo on the CPU)
writes the feature cache that one process writes, and the features are identical."""
import numpy as np
import pytest
import torch
from PIL import Image

from empirical import data, distributed, features


@pytest.fixture
def ds(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(tmp_path / f"img{i:02d}.png")
        (tmp_path / f"img{i:02d}.txt").write_text(f"Picture number {i} of a noisy square.\n")
    return data.folder(tmp_path)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_two_cpu_processes_fill_the_cache_with_the_features_of_one(ds, tmp_path):
    names = ["resnet18_random", "minilm_l6"]
    kw = dict(chunk_size=3, batch_size=2)  # 10 samples: chunks [0,3) [3,6) [6,9) [9,10) per model, 8 jobs
    jobs = distributed.fill(names, ds, devices=2, accelerator="cpu", cache_dir=tmp_path / "two", **kw)
    assert jobs == 8
    assert distributed.fill(names, ds, devices=2, accelerator="cpu", cache_dir=tmp_path / "two", **kw) == 0
    for name in names:
        report = {}
        two = features.cached(name, ds, cache_dir=tmp_path / "two", report=report, **kw)
        assert report["computed"] == 0  # every chunk was written by the two processes
        one = features.cached(name, ds, cache_dir=tmp_path / "one", **kw)
        assert len(two) == len(one) and all(torch.equal(a, b) for a, b in zip(two, one))


def test_fill_checks_everything_before_starting_processes(ds, tmp_path):
    with pytest.raises(ValueError, match=r"'devices' parameter of distributed\.fill must be >= 1"):
        distributed.fill(["resnet18_random"], ds, devices=0)
    with pytest.raises(ValueError, match=r"'accelerator' parameter of distributed\.fill must be one of"):
        distributed.fill(["resnet18_random"], ds, accelerator="tpu")
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        distributed.fill(["nope"], ds, accelerator="cpu")
    if torch.cuda.device_count() < 4:
        with pytest.raises(ValueError, match=r"'devices' parameter of distributed\.fill must be at most the number"):
            distributed.fill(["resnet18_random"], ds, devices=4, accelerator="gpu")
    assert not (tmp_path / "features").exists()
