"""Issue 11, item 4: feature files in the paper's released format, reference banks, and `score` (the experiment and
`empirical.score`): the numbers are alignment.layerwise's and alignment.calibrate's, and every bad input is one
clear error before any model is loaded."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import alignment
import empirical
from empirical import bank, data, models
from platonic_core.experiment import main

N = 10


@pytest.fixture(autouse=True)
def private(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("PLATONIC_CACHE", str(tmp_path_factory.getbasetemp() / "platonic"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _folder(root, n=N, seed=0, prefix="img"):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{prefix}{i:02d}.png")
        (root / f"{prefix}{i:02d}.txt").write_text(f"Picture number {i} of a noisy square, seed {seed}.\n")
    return data.folder(root)


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return _folder(tmp_path_factory.mktemp("pairs"))


def _paper_file(path, n=N, layers=4, width=8, seed=0, dtype=torch.bfloat16):
    """A file as the paper's extract_features.py writes it for a language model (bfloat16 features N x L x D)."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, layers, width, generator=g).to(dtype)
    torch.save({"feats": feats, "num_params": 1234, "mask": torch.ones(n, 5, dtype=torch.long),
                "loss": torch.tensor(2.5), "bpb": torch.tensor(0.9)}, path)
    return feats


def test_reads_the_papers_files_and_writes_files_the_paper_reads(tmp_path):
    feats = _paper_file(tmp_path / "bigscience_bloomz-560m_pool-avg.pt")
    f = bank.read(tmp_path / "bigscience_bloomz-560m_pool-avg.pt")
    assert f.name == "bigscience_bloomz-560m_pool-avg" and f.n == N and len(f.layers) == 4
    assert all(torch.equal(x, feats[:, i].float()) for i, x in enumerate(f.layers))
    assert (f.num_params, f.loss, f.bpb, f.ids) == (1234, 2.5, pytest.approx(0.9, abs=1e-6), None)
    vision = [torch.randn(N, 8)]
    torch.save({"feats": [torch.randn(N, 3), torch.randn(N, 5)], "num_params": 7}, tmp_path / "v.pt")  # per layer
    assert [x.shape[1] for x in bank.read(tmp_path / "v.pt").layers] == [3, 5]
    # ours: N x L x D when widths agree (the paper's layout), a list otherwise; extra keys under 'platonic'
    bank.write(tmp_path / "same.pt", [torch.ones(N, 4), torch.zeros(N, 4)], num_params=3, meta={"ids": list("abcd")})
    raw = torch.load(tmp_path / "same.pt", weights_only=True)
    assert raw["feats"].shape == (N, 2, 4) and raw["num_params"] == 3 and raw["platonic"]["ids"] == list("abcd")
    bank.write(tmp_path / "mixed.pt", [torch.ones(N, 4), torch.zeros(N, 6)] + vision)
    raw = torch.load(tmp_path / "mixed.pt", weights_only=True)
    assert isinstance(raw["feats"], list) and [x.shape for x in raw["feats"]] == [(N, 4), (N, 6), (N, 8)]


def test_scores_are_alignment_layerwise_and_calibrate_on_those_features(tmp_path):
    refs = [_paper_file(tmp_path / f"ref{i}.pt", seed=i + 1) for i in range(2)]
    g = torch.Generator().manual_seed(9)
    ours = [torch.randn(N, 6, generator=g), torch.randn(N, 3, generator=g)]
    out = empirical.score(ours, tmp_path, metric="mutual_knn", k=3, n_perm=5, seed=2)
    assert list(out) == ["ref0", "ref1"]
    for name, ref in zip(out, refs):
        layers = [ref[:, i].float() for i in range(ref.shape[1])]
        lw = alignment.layerwise(ours, layers, "mutual_knn", k=3)
        c = alignment.calibrate(ours, layers, "mutual_knn", n_perm=5, seed=2, k=3)
        r = out[name]
        assert (r.best_score, r.best_layers) == (lw.best_score, lw.best_layers)
        assert np.array_equal(r.scores, lw.scores)
        assert (r.null_mean, r.null_std, r.z) == (c.null_mean, c.null_std, c.z) and np.array_equal(r.null, c.null)
        assert r.num_params == 1234 and r.n == N and r.params == {"k": 3}
    raw = empirical.score(ours, [str(tmp_path / "ref0.pt")], metric="cka", n_perm=0)
    assert raw["ref0"].null_mean is None and raw["ref0"].best_score == alignment.layerwise(
        ours, [refs[0][:, i].float() for i in range(4)], "cka").best_score
    # the paper's N x L x D layout for our features too
    stacked = torch.stack([ours[0][:, :3], ours[1]], 1)
    assert empirical.score(stacked, tmp_path / "ref0.pt", k=3, n_perm=0)["ref0"].best_score == \
        alignment.layerwise([ours[0][:, :3], ours[1]], [refs[0][:, i].float() for i in range(4)], k=3).best_score
    text = bank.table(out)
    assert text.splitlines()[0].split() == ["reference", "best", "layers", "calibrated", "p", "null", "mean", "z"]
    fig = bank.plot(out)
    assert len(fig.axes[0].patches) == 2


def test_build_a_bank_and_score_a_model_against_it(ds, tmp_path):
    folder, records = bank.build(["vit_tiny_random", "minilm_l6"], ds, name="tiny", device="cpu",
                                 cache_dir=tmp_path / "cache", spec=None)
    assert folder == bank.banks_root() / "tiny" and sorted(p.name for p in folder.glob("*.pt")) == [
        "minilm_l6_pool-auto.pt", "vit_tiny_random_pool-auto.pt"]
    meta = json.loads((folder / "bank.json").read_text())
    assert meta["ids"] == list(ds.ids) and meta["models"]["minilm_l6_pool-auto.pt"] == "minilm_l6"
    f = bank.read(folder / "minilm_l6_pool-auto.pt")
    assert f.ids == list(ds.ids) and f.num_params == models.num_params("minilm_l6") and f.mask.shape[0] == N
    assert records["minilm_l6"]["n_layers"] == 7 and records["minilm_l6"]["dtype"] == "float32"
    out = empirical.score("resnet18_random", "bank:tiny", k=3, n_perm=3, dataset=ds, device="cpu",
                          cache_dir=tmp_path / "cache")
    from empirical import features

    ours = features.cached("resnet18_random", ds, cache_dir=tmp_path / "cache", device="cpu")
    for name, model in (("vit_tiny_random_pool-auto", "vit_tiny_random"), ("minilm_l6_pool-auto", "minilm_l6")):
        theirs = features.cached(model, ds, cache_dir=tmp_path / "cache")
        assert out[name].best_score == alignment.layerwise(ours, theirs, k=3).best_score
    with pytest.raises(ValueError, match=r"'references' parameter of score must name existing banks .*'bank:nope'"):
        empirical.score("resnet18_random", "bank:nope", dataset=ds)


@pytest.fixture
def no_loading(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(models, "load", refuse)


def test_bad_references_are_one_clear_error_before_any_model(ds, tmp_path, no_loading):
    good = tmp_path / "good"
    good.mkdir()
    _paper_file(good / "a.pt")
    _paper_file(good / "b.pt", n=N + 1)
    with pytest.raises(bank.BankError, match=r"References disagree on N: .*a\.pt has 10 rows, .*b\.pt has 11"):
        empirical.score("resnet18_random", good, dataset=ds)
    nan = tmp_path / "nan"
    nan.mkdir()
    feats = torch.randn(N, 3, 4)
    feats[2, 1, 0] = float("nan")
    torch.save({"feats": feats, "num_params": 1}, nan / "broken.pt")
    with pytest.raises(bank.BankError, match=r"broken\.pt: layer 1 holds 1 non-finite value\(s\) \(NaN or inf\)"):
        empirical.score("resnet18_random", nan / "broken.pt", dataset=ds)
    with pytest.raises(bank.BankError, match=r"The dataset .* has 10 samples but the references have 11 rows"):
        empirical.score("resnet18_random", good / "b.pt", dataset=ds)
    with pytest.raises(bank.BankError, match=r"The features have 10 rows but the references have 11"):
        empirical.score([torch.randn(N, 4)], good / "b.pt")
    torch.save({"weights": 1}, tmp_path / "notfeats.pt")
    with pytest.raises(bank.BankError, match=r"notfeats\.pt is not a feature file: expected a dict with 'feats'"):
        empirical.score([torch.randn(N, 4)], tmp_path / "notfeats.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00 not a torch file")
    with pytest.raises(bank.BankError, match=r"garbage\.pt cannot be read"):
        empirical.score([torch.randn(N, 4)], tmp_path / "garbage.pt")
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match=r"must name folders that hold feature files \(\*\.pt\)"):
        empirical.score("resnet18_random", tmp_path / "none", dataset=ds)
    with pytest.raises(ValueError, match=r"must name existing feature files or folders.*no such file"):
        empirical.score("resnet18_random", tmp_path / "absent.pt", dataset=ds)
    with pytest.raises(ValueError, match=r"'k' parameter of score must be in \[1, N-1\] with N=10"):
        empirical.score([torch.randn(N, 4)], good / "a.pt", k=10)


def test_mismatched_sample_ids_are_an_error_before_any_model(ds, tmp_path, monkeypatch):
    folder, _ = bank.build(["resnet18_random"], ds, out=tmp_path / "b", device="cpu", cache_dir=tmp_path / "c",
                           extras=False)
    other = _folder(tmp_path / "other", prefix="pic")  # the same N, other samples
    monkeypatch.setattr(models, "load", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(bank.BankError, match=r"Sample ids differ between the dataset .* and the references "
                                             r"\(.*resnet18_random_pool-auto\.pt\): row 0 is 'pic00' in the first "
                                             r"and 'img00' in the second"):
        empirical.score("vit_tiny_random", folder, dataset=other)
    with pytest.raises(bank.BankError, match="Sample ids differ between the features and the references"):
        empirical.score([torch.randn(N, 4)], folder, ids=list(other.ids))
    bank.write(tmp_path / "b2" / "x.pt", [torch.randn(N, 4)], meta={"ids": list(other.ids)})
    with pytest.raises(bank.BankError, match="Sample ids differ between reference"):
        empirical.score([torch.randn(N, 4)], [folder, tmp_path / "b2"])


def test_score_command_line_errors_exit_2_with_one_line(tmp_path, capsys, ds):
    torch.save({"feats": torch.full((N, 2, 3), float("nan"))}, tmp_path / "nan.pt")
    argv = ["score", "--set", "features=resnet18_random", "--set", f"references={tmp_path / 'nan.pt'}",
            "--set", f"dataset={ds.images[0].parent}", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:
        main(argv, kind="empirical")
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "nan.pt: layer 0 holds 30 non-finite" in err
    assert not (tmp_path / "out").exists()


def test_score_experiment_writes_table_and_plot(ds, tmp_path):
    from platonic_core import experiment

    folder, _ = bank.build(["resnet18_random", "minilm_l6"], ds, out=tmp_path / "bank", device="cpu",
                           cache_dir=tmp_path / "c", spec=str(ds.images[0].parent))
    res = experiment.run("score", tmp_path / "out", quiet=True, features="vit_tiny_random",
                         references=[str(folder)], k=3, n_perm=2, device="cpu", cache_dir=str(tmp_path / "c"))
    assert set(res["references"]) == {"resnet18_random_pool-auto", "minilm_l6_pool-auto"}  # dataset from bank.json
    assert (tmp_path / "out" / "scores.txt").read_text().startswith("reference")
    assert res["extraction"]["vit_tiny_random"]["clamp"] == {"cached": None, "q": 0.95}
