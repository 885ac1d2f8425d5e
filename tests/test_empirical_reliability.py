"""Reliability of empirical's public API: cheap configuration checks, validation before any work, damaged caches.

Everything here runs on tiny inputs; the only real model is resnet18_random (no weights to read). "Before any work"
is checked by replacing the expensive step (model loading, feature extraction, bits-per-byte) with one that fails.
"""
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from empirical import bpb, corpus, data, features, models
from platonic_core import runio

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """Five small textured images with captions in a folder dataset."""
    root = tmp_path_factory.mktemp("rel_pairs")
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"im{i}.png")
        (root / f"im{i}.txt").write_text(f"Square {i}.\n")
    return data.folder(root)


@pytest.fixture(scope="module")
def resnet():
    return models.load("resnet18_random", device="cpu")


@pytest.fixture
def no_loading(monkeypatch):
    """models.load (and the whole extraction) must not run."""
    def boom(*a, **k):
        raise AssertionError("a model was loaded before the arguments were validated")

    monkeypatch.setattr(models, "load", boom)


def _png(path, colour=(9, 99, 199)):
    Image.new("RGB", (8, 8), colour).save(path)


# ---------------------------------------------------------------- models: check_name, resolve_device, check_dtype


def test_check_name_is_public_and_lists_the_valid_forms():
    for name in ("efficientnet_lite0", "resnet18_random", "random:resnet18@7", "timm:resnet18", "hf:some/id"):
        assert models.check_name(name) == name
    assert models._check_name is models.check_name
    with pytest.raises(ValueError, match=r"Unknown model 'resnet_9000'\. Use a packaged name .*'random:ARCH\[@SEED\]'"
                                         r".*'timm:NAME\[@WEIGHTS_FILE\]', or 'hf:ID_OR_PATH'"):
        models.check_name("resnet_9000")
    with pytest.raises(TypeError, match=r"The 'name' parameter of load must be a str\. Got 3 \(int\) instead\."):
        models.check_name(3)
    with pytest.raises(ValueError, match=r"seed in 'random:resnet18@x' must be a non-negative integer.*Got 'x'"):
        models.check_name("random:resnet18@x")
    with pytest.raises(ValueError, match="names no architecture"):
        models.check_name("random:@3")
    with pytest.raises(ValueError, match="Unknown model 'timm: '"):
        models.check_name("timm: ")


def _gpus(monkeypatch, n):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_resolve_device_on_a_cpu_only_machine(monkeypatch):
    _gpus(monkeypatch, 0)
    assert models.resolve_device("auto") == torch.device("cpu")
    assert models.resolve_device("cpu") == torch.device("cpu")
    assert models.resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match=r"^The 'device' parameter of load must be 'auto' or an available device "
                                         r"\(here: cpu\)\. Got 'nosuch' \(not a device name\) instead\.$"):
        models.resolve_device("nosuch")
    for bad in ("cuda", "cuda:0", "cuda:3", "mps"):
        with pytest.raises(ValueError, match=rf"\(here: cpu\)\. Got '{bad}' \(not on this machine\) instead"):
            models.resolve_device(bad)
    with pytest.raises(TypeError, match=r"'device' parameter of extract .* Got 0 \(int\) instead"):
        models.resolve_device(0, "extract")


def test_resolve_device_with_two_gpus(monkeypatch):
    _gpus(monkeypatch, 2)
    assert models.resolve_device("auto") == torch.device("cuda")
    assert models.resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"\(here: cpu, cuda:0, cuda:1\)\. Got 'cuda:2' \(not on this machine\)"):
        models.resolve_device("cuda:2")


def test_check_dtype():
    assert [models.check_dtype(d) for d in ("float32", "bfloat16", "float16", "auto")] == [
        "float32", "bfloat16", "float16", "auto"]  # auto: bfloat16 on GPUs that support it (models.resolve_dtype)
    with pytest.raises(ValueError, match=r"The 'dtype' parameter of load must be one of float32, bfloat16, float16, "
                                         r"auto\. Got 'float8' instead\."):
        models.check_dtype("float8")
    with pytest.raises(ValueError, match="'dtype' parameter of load"):
        models.check_dtype(torch.float32)  # the name, not the torch dtype: it goes into cache keys


def test_load_validates_everything_before_any_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("work started")

    for step in ("_require", "_efficientnet_lite", "_timm_random", "_timm_pretrained", "_hf"):
        monkeypatch.setattr(models, step, boom)
    with pytest.raises(ValueError, match="'device' parameter of load"):
        models.load("efficientnet_lite0", device="nosuch")
    with pytest.raises(ValueError, match="'dtype' parameter of load"):
        models.load("resnet18_random", dtype="float64")
    with pytest.raises(ValueError, match="seed in 'random:resnet18@-1'"):
        models.load("random:resnet18@-1")


def _tiny_model_dir(path):
    from safetensors.torch import save_file

    path.mkdir(parents=True)
    (path / "config.json").write_text('{"architectures": ["X"]}')
    (path / "tokenizer_config.json").write_text("{}")
    save_file({"w": torch.arange(64.0)}, str(path / "model.safetensors"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "config", "big tokenizer cut"])
def test_damaged_converted_model_is_rebuilt_with_a_warning(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("PLATONIC_CACHE", str(tmp_path))
    target = tmp_path / "models" / "tiny-gguf-1"
    _tiny_model_dir(target)
    assert models._converted("tiny-gguf-1", None) == target  # whole: used as it is, nothing rebuilt
    weights = target / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "garbage":
        weights.write_bytes(b"garbage")
    elif damage == "config":
        (target / "config.json").write_text('{"architectures": [')
    else:
        whole = json.dumps({"vocab": "x" * (2 << 20)})
        (target / "tokenizer.json").write_text(whole)
        models.check_model_dir(target)  # a whole big one passes (checked by its ends only)
        (target / "tokenizer.json").write_text(whole[:-10])
    built = []

    def publish(where, build):  # stands in for the (slow) GGUF conversion
        built.append(where)
        _tiny_model_dir(where)
        return where

    monkeypatch.setattr(models, "_publish", publish)
    with pytest.warns(models.CorruptCacheWarning, match=r"Cached converted model .*tiny-gguf-1 is unreadable.*"
                                                        r"deleted and rebuilt"):
        assert models._converted("tiny-gguf-1", None) == target
    assert built == [target]
    models.check_model_dir(target)  # the rebuilt copy is whole
    assert [p.name for p in target.parent.iterdir()] == ["tiny-gguf-1"]  # the damaged copy is gone


# ---------------------------------------------------------------- data


def test_check_spec_is_cheap_and_lists_the_valid_forms(tmp_path, monkeypatch):
    _png(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("A.\n")
    (tmp_path / "m.jsonl").write_text('{"image": "a.png", "caption": "A."}\n')
    (tmp_path / "t.csv").write_text("x\n")
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("check_spec read an image"))
    assert data.check_spec("tuxpaint") == "tuxpaint" and data.check_spec("tuxpaint:all") == "tuxpaint:all"
    assert data.check_spec(str(tmp_path)) == str(tmp_path)
    assert data.check_spec(tmp_path / "m.jsonl") == str(tmp_path / "m.jsonl")
    forms = (r"must be 'tuxpaint' \(photos\), 'tuxpaint:all', an existing folder of image \+ same-name \.txt caption "
             r"files, an existing \.jsonl manifest, or 'hf:NAME_OR_PATH\[@REVISION\]\[:SPLIT\]\[\?image=COL&text=COL"
             r"&caption=I\|all&id=COL\]'\.")
    with pytest.raises(ValueError, match=rf"^The 'spec' parameter of load {forms} Got '.*x\.jsonl' \(no such file\)"):
        data.check_spec(str(tmp_path / "x.jsonl"))
    with pytest.raises(ValueError, match=r"Got '.*nowhere' \(no such folder\) instead"):
        data.check_spec(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"Got '.*t\.csv' \(neither a folder nor a \.jsonl file\) instead"):
        data.check_spec(str(tmp_path / "t.csv"))
    with pytest.raises(ValueError, match=r"must be a non-empty str.*Got ' ' instead"):
        data.check_spec(" ")  # not the current folder
    with pytest.raises(TypeError, match=r"'spec' parameter of load must be a str.*Got None \(NoneType\)"):
        data.check_spec(None)


def test_missing_tuxpaint_install_is_a_value_error_too(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "TUXPAINT_ROOT", tmp_path / "absent")
    with pytest.raises(ValueError, match="apt-get install tuxpaint-stamps-default"):
        data.check_spec("tuxpaint")
    with pytest.raises(FileNotFoundError):
        data.check_spec("tuxpaint")


@pytest.mark.parametrize("line, message", [
    ('{"image": "bad.png", "caption": "x"}', r"m\.jsonl:2: image .*bad\.png is not a readable image file"),
    ('{"image": "cut.png", "caption": "x"}', r"m\.jsonl:2: image .*cut\.png is not a readable image file"),
    ('{"image": "ok.png", "caption": 3}', r"m\.jsonl:2 has no caption text: 'caption' must be a non-empty string\. "
                                          r"Got 3 instead\."),
    ('{"image": "ok.png", "caption": ["a"]}', r"m\.jsonl:2 has no caption text.*Got \['a'\] instead"),
    ('{"image": "ok.png", "caption": "x", "id": null}', r"m\.jsonl:2: 'id' must be a non-empty string or an int"),
    ('{"image": "ok.png", "caption": "x", "id": "one"}', r"m\.jsonl:2: sample id 'one' repeats the id of line 1"),
    ('{"image": "", "caption": "x"}', r"m\.jsonl:2 must be an object with a string 'image'"),
])
def test_manifest_errors_name_file_and_line(tmp_path, line, message):
    _png(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"this is not a png")
    whole = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "m.jsonl").write_text('{"image": "ok.png", "caption": "fine", "id": "one"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        data.load(str(tmp_path / "m.jsonl"))


def test_manifest_without_entries_and_non_utf8(tmp_path):
    (tmp_path / "m.jsonl").write_text("\n  \n")
    with pytest.raises(ValueError, match=r"No image-caption pairs found in .*m\.jsonl"):
        data.load(tmp_path / "m.jsonl")
    (tmp_path / "m.jsonl").write_bytes(b'{"image": "\xff"}\n')
    with pytest.raises(ValueError, match=r"m\.jsonl is not UTF-8 text"):
        data.load(tmp_path / "m.jsonl")


def test_folder_with_an_undecodable_image_names_it(tmp_path):
    _png(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("A.\n")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "b.txt").write_text("B.\n")
    with pytest.raises(ValueError, match=r"image .*b\.jpg is not a readable image file"):
        data.load(str(tmp_path))


def test_subset_select_and_construction_are_checked(ds):
    assert len(ds) == 5 and ds.subset(5) is ds and len(ds.subset(4, seed=3)) == 4
    with pytest.raises(ValueError, match=r"^The 'n' parameter of PairedDataset\.subset must be in \[1, 5\] \(the size "
                                         r"of folder:.*\)\. Got 0 instead\.$"):
        ds.subset(0)
    with pytest.raises(ValueError, match=r"must be in \[1, 5\].*Got 6 instead"):
        ds.subset(6)
    with pytest.raises(TypeError, match="'n' parameter of PairedDataset.subset must be an int"):
        ds.subset(True)
    with pytest.raises(ValueError, match="'seed' parameter of PairedDataset.subset must be >= 0"):
        ds.subset(2, seed=-1)
    assert ds.select(np.array([4, 0])).ids == (ds.ids[4], ds.ids[0])
    with pytest.raises(ValueError, match=r"'index' parameter of PairedDataset\.select must be in \[0, 4\]\. Got -1"):
        ds.select([-1])  # no silent wrap-around
    with pytest.raises(ValueError, match=r"'i' parameter of PairedDataset\.image must be in \[0, 4\]\. Got 5"):
        ds.image(5)
    with pytest.raises(ValueError, match="'captions' parameter of with_captions must hold non-empty strings"):
        ds.with_captions(["a", "b", "", "d", "e"], "x")
    with pytest.raises(ValueError, match="must have the same length"):
        data.PairedDataset("x", ("a",), (), ("c",))
    with pytest.raises(ValueError, match="'modality' parameter of PairedDataset.fingerprint"):
        ds.fingerprint("audio")


def test_other_data_and_model_entry_points_check_first(monkeypatch):
    monkeypatch.setattr(models, "_package_file", lambda *a: pytest.fail("read a package before checking the name"))
    with pytest.raises(ValueError, match=r"'name' parameter of efficientnet_lite_state_dict must be one of "
                                         r"efficientnet_lite0, efficientnet_lite1, efficientnet_lite2\. Got 'x'"):
        models.efficientnet_lite_state_dict("x")
    with pytest.raises(TypeError, match=r"'photos_only' parameter of tuxpaint must be a bool.*Got 'no' \(str\)"):
        data.tuxpaint(photos_only="no")
    with pytest.raises(TypeError, match=r"'root' parameter of tuxpaint must be a non-empty str or path"):
        data.tuxpaint(root=3)
    with pytest.raises(TypeError, match=r"'img' parameter of composite_on_white must be a PIL image\. Got int"):
        data.composite_on_white(1)


def test_image_that_became_undecodable_names_its_file(tmp_path):
    _png(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("A.\n")
    one = data.folder(tmp_path)
    (tmp_path / "a.png").write_bytes(b"garbage now")
    with pytest.raises(ValueError, match=r"Image .*a\.png \(sample 'a' of folder:.*\) cannot be decoded"):
        one.image(0)


# ---------------------------------------------------------------- features: validation before loading


@pytest.mark.parametrize("kw, exc, message", [
    (dict(batch_size=0), ValueError, r"^The 'batch_size' parameter of extract must be >= 1\. Got 0 instead\.$"),
    (dict(batch_size=2.0), TypeError, r"'batch_size' parameter of extract must be an int"),
    (dict(pooling="mean"), ValueError, r"'pooling' parameter of extract must be one of auto, cls, avg for a vision"),
    (dict(dtype="float64"), ValueError, r"'dtype' parameter of extract must be one of float32, bfloat16, float16"),
    (dict(device="nosuch"), ValueError, r"'device' parameter of extract must be 'auto' or an available device"),
    (dict(max_length=0), ValueError, r"'max_length' parameter of extract must be >= 1\. Got 0"),
    (dict(progress="yes"), TypeError, r"'progress' parameter of extract must be a bool"),
])
def test_extract_checks_options_before_loading(no_loading, kw, exc, message):
    with pytest.raises(exc, match=message):
        features.extract("resnet18_random", [Image.new("RGB", (8, 8))], **kw)


def test_extract_checks_inputs_before_loading(no_loading):
    with pytest.raises(ValueError, match=r"^The 'max_length' parameter of extract must be >= 1\. Got 0 instead\.$"):
        features.extract("minilm_l6", ["A frog."], max_length=0)
    with pytest.raises(ValueError, match="'pooling' parameter of extract must be one of auto, mean for a language"):
        features.extract("minilm_l6", ["A frog."], pooling="cls")
    with pytest.raises(TypeError, match=r"must be a list of strings \(wrap a single sample in a list\)"):
        features.extract("minilm_l6", "A frog.")  # not 7 one-letter texts
    with pytest.raises(ValueError, match=r"must be non-empty strings.*Got '' at position 1"):
        features.extract("minilm_l6", ["A frog.", ""])
    with pytest.raises(TypeError, match=r"must be PIL images for a vision model\. Got 'x' \(str\) at position 0"):
        features.extract("resnet18_random", ["x"])
    with pytest.raises(ValueError, match="at least one sample"):
        features.extract("resnet18_random", iter([]))
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        features.extract("nope", ["x"])


@pytest.mark.parametrize("kw, exc, message", [
    (dict(chunk_size=0), ValueError, r"'chunk_size' parameter of features\.cached must be >= 1\. Got 0"),
    (dict(force="yes"), TypeError, r"'force' parameter of features\.cached must be a bool \(True or False\)"),
    (dict(force=1), TypeError, r"'force' parameter of features\.cached must be a bool"),
    (dict(batch_size=0), ValueError, r"'batch_size' parameter of features\.cached must be >= 1"),
    (dict(max_length=0), ValueError, r"'max_length' parameter of features\.cached must be >= 1"),
    (dict(pooling="mean"), ValueError, r"'pooling' parameter of features\.cached must be one of auto, cls, avg"),
    (dict(dtype="half"), ValueError, r"'dtype' parameter of features\.cached must be one of"),
    (dict(device="cuda:7"), ValueError, r"'device' parameter of features\.cached .*Got 'cuda:7'"),
])
def test_cached_checks_options_before_loading_or_writing(ds, tmp_path, no_loading, kw, exc, message):
    with pytest.raises(exc, match=message):
        features.cached("resnet18_random", ds, cache_dir=tmp_path, **kw)
    assert not list(tmp_path.iterdir())  # nothing written either


def test_cached_checks_dataset_and_loaded_model(resnet, ds, tmp_path, no_loading):
    with pytest.raises(TypeError, match="'dataset' parameter of features.cached must be an empirical.data"):
        features.cached("resnet18_random", ["x"], cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"'loaded' parameter of features\.cached must be model 'vit_tiny_random' "
                                         r"loaded in float32.*Got 'resnet18_random' in float32"):
        features.cached("vit_tiny_random", ds, cache_dir=tmp_path, loaded=resnet)  # would file under another key
    with pytest.raises(ValueError, match="must be model 'resnet18_random' loaded in bfloat16"):
        features.cached("resnet18_random", ds, cache_dir=tmp_path, dtype="bfloat16", loaded=resnet)
    with pytest.raises(TypeError, match="'cache_dir' parameter of features.cached must be a directory path"):
        features.cached("resnet18_random", ds, cache_dir=3)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="'cache_dir' parameter of features.cached must be a directory"):
        features.cached("resnet18_random", ds, cache_dir=tmp_path / "file" / "sub")


# ---------------------------------------------------------------- features: the cache


class Count:
    def __init__(self):
        self.samples, self.real = 0, features.extract

    def __call__(self, model, inputs, **kw):
        self.samples += len(inputs)
        return self.real(model, inputs, **kw)


@pytest.fixture
def counted(monkeypatch):
    c = Count()
    monkeypatch.setattr(features, "extract", c)
    return c


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def test_cache_entry_is_named_by_runio_digest(ds, tmp_path):
    key = features.cache_key("resnet18_random", ds)
    where = features.entry_dir(key, tmp_path)
    assert where == tmp_path / "resnet18_random" / runio.digest(key)
    assert key["ids"] == runio.digest(list(ds.ids), length=16)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong rows", "not a list"])
def test_damaged_feature_chunk_is_recomputed_with_a_warning(ds, resnet, tmp_path, counted, damage):
    kw = dict(cache_dir=tmp_path, chunk_size=2, loaded=resnet)  # 5 samples: chunks [0, 2), [2, 4), [4, 5)
    first = features.cached("resnet18_random", ds, **kw)
    assert counted.samples == 5
    entry = features.entry_dir(features.cache_key("resnet18_random", ds), tmp_path)
    chunk = entry / "chunk-000002-000004.pt"
    raw = chunk.read_bytes()
    if damage == "truncated":
        chunk.write_bytes(raw[:len(raw) // 2])
    elif damage == "garbage":
        chunk.write_bytes(b"\x00garbage" * 10)
    elif damage == "wrong rows":
        torch.save([f[:1] for f in first], chunk)
    else:
        torch.save({"a": torch.zeros(2, 3)}, chunk)
    with pytest.warns(models.CorruptCacheWarning, match=r"Cached features chunk .*chunk-000002-000004\.pt is "
                                                        r"unreadable or inconsistent .*recomputed now \(force=True, "
                                                        r"--force on the command line"):
        again = features.cached("resnet18_random", ds, **kw)
    assert counted.samples == 5 + 2  # only the damaged chunk
    assert _same(again, first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the chunk was rewritten whole: no warning any more
        assert _same(features.cached("resnet18_random", ds, cache_dir=tmp_path, chunk_size=2), first)
    assert counted.samples == 7


def test_damaged_key_file_is_rewritten_and_chunks_kept(ds, resnet, tmp_path, counted):
    kw = dict(cache_dir=tmp_path, chunk_size=4, loaded=resnet)
    first = features.cached("resnet18_random", ds, **kw)
    key = features.cache_key("resnet18_random", ds)
    path = features.entry_dir(key, tmp_path) / "key.json"
    path.write_text('{"model": "resn')
    with pytest.warns(models.CorruptCacheWarning, match=r"key\.json is unreadable.*rewritten now"):
        assert _same(features.cached("resnet18_random", ds, **kw), first)
    assert counted.samples == 5 and json.loads(path.read_text()) == key
    path.write_text(json.dumps({**key, "model": "other"}))  # another key: its chunks cannot be trusted
    with pytest.warns(models.CorruptCacheWarning, match="holds another key.*every chunk of the entry recomputed"):
        assert _same(features.cached("resnet18_random", ds, **kw), first)
    assert counted.samples == 10 and json.loads(path.read_text()) == key


def test_another_chunk_size_never_reuses_chunks_of_other_rows(ds, resnet, tmp_path, counted):
    kw = dict(cache_dir=tmp_path, loaded=resnet)
    by2 = features.cached("resnet18_random", ds, chunk_size=2, **kw)
    by3 = features.cached("resnet18_random", ds, chunk_size=3, **kw)  # [0,3) [3,5): no file of the first run fits
    assert counted.samples == 10 and _same(by2, by3)
    features.cached("resnet18_random", ds, chunk_size=2, **kw)
    assert counted.samples == 10


# ---------------------------------------------------------------- bits-per-byte


@pytest.mark.parametrize("call, exc, message", [
    (lambda: bpb.bits_per_byte("smollm2_135m", "Hi.", max_length=1), ValueError,
     r"^The 'max_length' parameter of bits_per_byte must be >= 2\. Got 1 instead\.$"),
    (lambda: bpb.bits_per_byte("smollm2_135m", "Hi.", dtype="fp16"), ValueError,
     r"'dtype' parameter of bits_per_byte must be one of float32, bfloat16, float16"),
    (lambda: bpb.bits_per_byte("smollm2_135m", "Hi.", device="gpu"), ValueError,
     r"'device' parameter of bits_per_byte must be 'auto' or an available device"),
    (lambda: bpb.bits_per_byte("smollm2_135m", 3), TypeError, r"'texts' parameter of bits_per_byte .*Got 3 \(int\)"),
    (lambda: bpb.bits_per_byte("smollm2_135m", ["a", ""]), ValueError, r"Got an empty string at position 1 instead"),
    (lambda: bpb.bits_per_byte("smollm2_135m", ["a", None]), TypeError, r"Got None \(NoneType\) at position 1"),
    (lambda: bpb.bits_per_byte("minilm_l6", "Hi."), ValueError,
     r"'model' parameter of bits_per_byte must be a causal language model\. Got 'minilm_l6'"),
    (lambda: bpb.bits_per_byte("resnet18_random", "Hi."), ValueError, r"must be a causal language model"),
    (lambda: bpb.token_bits("nope", "Hi."), ValueError, r"Unknown model 'nope'"),
    (lambda: bpb.cached("smollm2_135m", "Hi.", force="no"), TypeError, r"'force' parameter of bpb\.cached must be"),
    (lambda: bpb.cached("smollm2_135m", "Hi.", max_length=0), ValueError, r"'max_length' parameter of bpb\.cached"),
    (lambda: bpb.windows([1, 2, 3], 1), ValueError, r"'max_length' parameter of windows must be >= 2"),
])
def test_bpb_checks_options_before_loading(no_loading, call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_bpb_cached_checks_loaded(resnet, tmp_path):
    with pytest.raises(ValueError, match=r"'loaded' parameter of bpb\.cached must be model 'smollm2_135m'"):
        bpb.cached("smollm2_135m", "Hi.", cache_dir=tmp_path, loaded=resnet)
    with pytest.raises(TypeError, match=r"'model' parameter of bpb\.cached must be a model name"):
        bpb.cached(resnet, "Hi.", cache_dir=tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other key", "missing field"])
def test_damaged_bpb_entry_is_recomputed_with_a_warning(tmp_path, monkeypatch, damage):
    calls = []

    def fake_token_bits(model, texts, **kw):  # the cache logic is under test, not the model
        calls.append(texts)
        return [(8.0 * len(t), len(t.encode()), len(t)) for t in texts]

    monkeypatch.setattr(bpb, "token_bits", fake_token_bits)
    first = bpb.cached("smollm2_135m", ["Hello.", "Hi."], cache_dir=tmp_path)
    assert first["bits_per_byte"] == 8.0 and len(calls) == 1
    (path,) = (tmp_path / "smollm2_135m").glob("bpb-*.json")
    assert path.name == f"bpb-{runio.digest(first['key'])}.json"
    assert first["key"]["texts"] == runio.digest(["Hello.", "Hi."], length=16)
    text = path.read_text()
    path.write_text({"truncated": text[:len(text) // 2], "garbage": "\x00\x01garbage",
                     "other key": json.dumps({**first, "key": {**first["key"], "n": 9}}),
                     "missing field": json.dumps({k: v for k, v in first.items() if k != "bits"})}[damage])
    with pytest.warns(models.CorruptCacheWarning, match=rf"Cached bits-per-byte entry .*{path.name} is unreadable "
                                                        r".*recomputed now \(force=True, --force"):
        assert bpb.cached("smollm2_135m", ["Hello.", "Hi."], cache_dir=tmp_path) == first
    assert len(calls) == 2 and json.loads(path.read_text()) == first
    assert bpb.cached("smollm2_135m", ["Hello.", "Hi."], cache_dir=tmp_path) == first and len(calls) == 2


# ---------------------------------------------------------------- corpus


def test_corpus_checks_arguments_and_a_damaged_dump(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="'max_articles' parameter of enwiki must be an int"):
        corpus.enwiki(max_articles="3")
    with pytest.raises(ValueError, match=r"^The 'max_chars' parameter of enwiki must be >= 1\. Got 0 instead\.$"):
        corpus.enwiki(max_chars=0)
    with pytest.raises(TypeError, match="'markup' parameter of wiki_to_text must be a str"):
        corpus.wiki_to_text(None)
    bad = tmp_path / "dump.bz2"
    bad.write_bytes(b"not bzip2 at all")
    monkeypatch.setattr(corpus, "enwiki_path", lambda: bad)
    with pytest.raises(OSError, match=r"The enwiki dump .*dump\.bz2 cannot be read.*--force-reinstall gensim"):
        corpus.enwiki(max_articles=1)
