"""Reference banks: feature files in the released format of the paper's code, and scoring a model against them.

The file format (minyoungg/platonic-rep, extract_features.py) is a `torch.save`d dict:
- `feats`: the features, N x L x D (every layer of one width; the paper's layout, samples first) or a list of L
  tensors N x D_l;
- `num_params`: the model's parameter count;
- language models also `mask` (N x T attention mask of the tokenised texts), `loss` (mean token cross-entropy in
  nats, a scalar tensor) and `bpb` (mean bits-per-byte of the texts, a scalar tensor).
The paper's code reads only `feats` when it measures alignment. Files written here add `platonic`: a dict with the
model, dataset, sample ids, extraction settings and cache key, so a later score can check that the rows match.

`read(path)` reads any such file (its own or the paper's 26 released files) and checks it: a dict with `feats`,
finite values (a NaN or inf names the file and the layer), the same N in every layer. `write(path, layers, ...)`
writes one. A *bank* is a folder of feature files with a `bank.json` (name, dataset spec, sample ids, models,
settings); `build(models, dataset, ...)` makes one from any models on any dataset through the feature cache
(`empirical.features.cached`, so nothing is computed twice; several processes or GPUs with `devices`). Named banks
live in cache_root()/banks/NAME and are referred to as 'bank:NAME'.

`score(features_or_model, references, metric, k, ...)` scores a model against references (a folder of feature
files, a list of files, 'bank:NAME', or model names computed on the dataset): for each reference the `alignment`
layer sweep (`layerwise`: every layer pair after the q-quantile clamp and L2 normalisation, the maximum and where
it is) and its permutation null (`calibrate`: null mean, std and z). `table(...)` and `plot(...)` show the result.
Every input is checked before any model is loaded: references of different N, non-finite references, features of
another N, and sample ids that differ between the features (or the dataset) and the references are errors naming
the file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from empirical import models
from platonic_core import runio
from platonic_core.checks import check_bool, check_int, check_n_perm, check_out_dir, check_real, fail, param
from platonic_core.progress import progress, quiet

BANK_FILE = "bank.json"
_CHECKED = set()  # (path, size, mtime) of files found finite in this process: a second read skips the scan
FORMAT = "platonic-rep feature file (feats N x L x D or list of N x D_l; num_params, mask, loss, bpb)"


class BankError(ValueError):
    """A feature file, bank or reference list that cannot be scored (the message names the file)."""


@dataclass
class FeatureFile:
    """A feature file read and checked by `read`: `layers` are float32 N x D_l tensors."""
    path: Path
    name: str
    layers: list
    num_params: int | None = None
    loss: float | None = None
    bpb: float | None = None
    mask: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n(self):
        return int(self.layers[0].shape[0])

    @property
    def ids(self):
        ids = self.meta.get("ids")
        return list(ids) if isinstance(ids, (list, tuple)) else None


def banks_root():
    """Folder of named banks: cache_root()/banks."""
    return models.cache_root() / "banks"


def safe_name(model):
    """A file-name-safe form of a model name (the paper's: '/' -> '_'; here every unsafe character)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", model)


def _scalar(v):
    if v is None:
        return None
    if torch.is_tensor(v):
        return float(v.float().mean()) if v.numel() else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def read(path, *, check=True):
    """Read and check one feature file (see the module docstring). Raises BankError naming the file when it is not
    a dict with 'feats', when feats is not N x L x D / a list of N x D_l, when layers differ in N, or (check=True)
    when a layer holds NaN or inf."""
    path = Path(path)
    if not path.is_file():
        raise BankError(f"Feature file {path} does not exist.")
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # not the zip format (mmap needs it)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated, garbage, or pickled objects weights_only refuses
        raise BankError(f"Feature file {path} cannot be read ({type(e).__name__}: "
                        f"{' '.join(str(e).split())[:200]}).") from None
    if not isinstance(obj, dict) or "feats" not in obj:
        raise BankError(f"Feature file {path} is not a feature file: expected a dict with 'feats' ({FORMAT}). Got "
                        f"{type(obj).__name__}" + (f" with keys {sorted(obj)[:8]}" if isinstance(obj, dict) else "")
                        + ".")
    feats = obj["feats"]
    if torch.is_tensor(feats) and feats.ndim == 3:
        layers = list(feats.unbind(1))  # the paper's N x L x D
    elif torch.is_tensor(feats) and feats.ndim == 2:
        layers = [feats]
    elif isinstance(feats, (list, tuple)) and feats and all(torch.is_tensor(f) and f.ndim == 2 for f in feats):
        layers = list(feats)
    else:
        shape = tuple(feats.shape) if torch.is_tensor(feats) else type(feats).__name__
        raise BankError(f"Feature file {path}: 'feats' must be N x L x D or a non-empty list of N x D_l tensors. "
                        f"Got {shape} instead.")
    n = int(layers[0].shape[0])
    for i, x in enumerate(layers):
        if x.shape[0] != n:
            raise BankError(f"Feature file {path}: layer {i} has {x.shape[0]} rows, layer 0 has {n}.")
        if not (x.is_floating_point()):
            raise BankError(f"Feature file {path}: layer {i} holds {x.dtype}, not floating-point features.")
    layers = [x.float() for x in layers]
    stamp = (str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns)
    if check and stamp not in _CHECKED:
        for i, x in enumerate(layers):
            bad = int((~torch.isfinite(x)).sum())
            if bad:
                raise BankError(f"Feature file {path}: layer {i} holds {bad} non-finite value(s) (NaN or inf); "
                                "recompute it (a half-precision overflow?) or remove it from the references.")
        _CHECKED.add(stamp)
    meta = obj.get("platonic") if isinstance(obj.get("platonic"), dict) else {}
    num = obj.get("num_params")
    return FeatureFile(path, path.stem, layers, int(num) if isinstance(num, int) and not isinstance(num, bool)
                       else _scalar(num), _scalar(obj.get("loss")), _scalar(obj.get("bpb")),
                       obj.get("mask") if torch.is_tensor(obj.get("mask")) else None, meta)


def write(path, layers, *, num_params=None, mask=None, loss=None, bpb=None, meta=None):
    """Write a feature file in the paper's format (atomically): `feats` is N x L x D when every layer has the same
    width (the paper's layout), else the list of N x D_l float32 tensors; `meta` goes under 'platonic'."""
    if not isinstance(layers, (list, tuple)) or not layers or not all(torch.is_tensor(x) and x.ndim == 2
                                                                     for x in layers):
        fail(param("layers", "bank.write"), "be a non-empty list of N x D tensors", type(layers).__name__, TypeError)
    layers = [x.detach().float().cpu().contiguous() for x in layers]
    if len({x.shape[0] for x in layers}) != 1:
        fail(param("layers", "bank.write"), "have the same N in every layer", [tuple(x.shape) for x in layers])
    widths = {x.shape[1] for x in layers}
    feats = torch.stack(layers, 1) if len(widths) == 1 else layers
    obj = {"feats": feats, "num_params": num_params}
    if mask is not None:
        obj["mask"] = mask
    if loss is not None:
        obj["loss"] = torch.tensor(float(loss))
    if bpb is not None:
        obj["bpb"] = torch.tensor(float(bpb))
    if meta is not None:
        obj["platonic"] = runio.jsonable(meta)
    return runio.atomic_write(Path(path), lambda tmp: torch.save(obj, tmp))


def read_bank(folder):
    """The bank.json of a folder (a dict), or {} for a plain folder of feature files (the paper's)."""
    import json

    path = Path(folder) / BANK_FILE
    if not path.is_file():
        return {}
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BankError(f"Bank file {path} cannot be read ({type(e).__name__}: {e}).") from None
    if not isinstance(out, dict):
        raise BankError(f"Bank file {path} must hold a JSON object.")
    return out


# ---------------------------------------------------------------- references


@dataclass
class Reference:
    """One reference: a feature file (`path`) or a model computed on the dataset (`model`)."""
    name: str
    path: Path | None = None
    model: str | None = None
    bank: dict = field(default_factory=dict)


def resolve(references, owner="score"):
    """`references` -> a list of Reference: a folder of feature files (every *.pt in it, sorted), a .pt file,
    'bank:NAME' (cache_root()/banks/NAME), a model name (computed on the dataset), or a list of these. Reads no
    feature file. Errors name the entry that is none of these."""
    who = param("references", owner)
    if isinstance(references, (str, Path)):
        references = [references]
    if not isinstance(references, (list, tuple)) or not references:
        fail(who, "be a folder of feature files, a .pt file, 'bank:NAME', a model name, or a non-empty list of these",
             repr(references), TypeError if not isinstance(references, (list, tuple)) else ValueError)
    out = []
    for entry in references:
        if not isinstance(entry, (str, Path)) or not str(entry).strip():
            fail(who, "hold paths, 'bank:NAME' or model names", f"{entry!r} ({type(entry).__name__})", TypeError)
        text = str(entry)
        if text.startswith("bank:"):
            folder = banks_root() / text[len("bank:"):]
            if not folder.is_dir():
                known = sorted(p.name for p in banks_root().glob("*") if p.is_dir()) if banks_root().is_dir() else []
                fail(who, f"name existing banks (in {banks_root()}: {known or 'none'}; build one with "
                          "`python -m empirical.run bank --set name=NAME ...`)", repr(text))
            out += _folder(folder, who)
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            out += _folder(path, who)
        elif path.is_file():
            out.append(Reference(path.stem, path=path, bank=read_bank(path.parent)))
        elif text.endswith(".pt") or "/" in text:
            fail(who, "name existing feature files or folders", f"{text!r} (no such file or folder)")
        else:
            try:
                models.check_name(text, owner)
            except ValueError:
                fail(who, "hold existing .pt files or folders, 'bank:NAME', or model names", repr(text))
            out.append(Reference(text, model=text))
    names = [r.name for r in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        fail(who, "name each reference once", f"{dup} more than once")
    return out


def _folder(folder, who):
    files = sorted(folder.glob("*.pt"))
    if not files:
        fail(who, "name folders that hold feature files (*.pt)", f"{str(folder)!r} (no .pt file)")
    bank = read_bank(folder)
    return [Reference(p.stem, path=p, bank=bank) for p in files]


# ---------------------------------------------------------------- scoring


@dataclass
class ScoreResult:
    """The score of features against one reference: the `alignment.layerwise` numbers (best_score, best_layers,
    scores[i, j] for (our layer i, reference layer j)) and the calibration of `alignment.calibrate` (p_value,
    threshold and calibrated_score of Groger et al.; null mean, std, z and the null scores; None when n_perm == 0)."""
    reference: str
    best_score: float
    best_layers: tuple
    scores: np.ndarray
    metric: str
    params: dict
    n: int
    q: float
    null_mean: float | None = None
    null_std: float | None = None
    z: float | None = None
    n_perm: int = 0
    null: np.ndarray | None = None
    p_value: float | None = None
    threshold: float | None = None
    calibrated_score: float | None = None
    path: str | None = None
    num_params: int | None = None
    bpb: float | None = None

    def as_dict(self):
        """JSON-ready (numpy arrays as lists)."""
        return runio.jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


def _features_of(x, owner):
    """Features given as data: a list of N x D_l arrays/tensors, a 3-D tensor in the paper's N x L x D layout, or a
    feature file path. Returns (name, layers, ids or None)."""
    who = param("features_or_model", owner)
    if isinstance(x, (str, Path)) and (str(x).endswith(".pt") or Path(x).is_file()):
        f = read(x)
        return f.name, f.layers, f.ids
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if torch.is_tensor(x):
        if x.ndim != 3:
            fail(who, "be N x L x D (the paper's layout) or a list of N x D_l layers", f"shape {tuple(x.shape)}")
        layers = list(x.unbind(1))
    elif isinstance(x, (list, tuple)) and x:
        layers = [torch.from_numpy(np.asarray(v)) if isinstance(v, np.ndarray) else v for v in x]
        if not all(torch.is_tensor(v) and v.ndim == 2 for v in layers):
            fail(who, "be a list of N x D_l tensors or arrays", "a list holding other things", TypeError)
    else:
        fail(who, "be a model name, a feature file, an N x L x D tensor or a list of N x D_l tensors",
             type(x).__name__, TypeError)
    layers = [v.detach().float().cpu() for v in layers]
    for i, v in enumerate(layers):
        if v.shape[0] != layers[0].shape[0]:
            fail(who, "have the same N in every layer", f"{v.shape[0]} rows in layer {i}, {layers[0].shape[0]} in 0")
        if not bool(torch.isfinite(v).all()):
            fail(who, "hold finite values", f"NaN or inf in layer {i}")
    return "features", layers, None


def _check_ids(ours, theirs, what_ours, what_theirs):
    if ours is None or theirs is None:
        return
    ours, theirs = [str(i) for i in ours], [str(i) for i in theirs]
    if ours == theirs:
        return
    if len(ours) != len(theirs):
        raise BankError(f"Sample ids differ: {what_ours} has {len(ours)} ids, {what_theirs} has {len(theirs)}.")
    i = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
    raise BankError(f"Sample ids differ between {what_ours} and {what_theirs}: row {i} is {ours[i]!r} in the first "
                    f"and {theirs[i]!r} in the second (the rows must be the same samples in the same order).")


@dataclass
class Plan:
    """A checked scoring job (see `prepare`): everything `score` needs, nothing loaded but the reference files'
    headers and the dataset."""
    refs: list
    dataset: object
    n: int
    model: str | None
    ours: list | None
    metric: str
    kw: dict
    n_perm: int
    seed: int
    q: float
    extraction: dict


def prepare(features_or_model, references, metric="mutual_knn", k=10, *, dataset=None, n_perm=100, seed=0, q=0.95,
            ids=None, cca_dim=10, pooling="auto", dtype="auto", device="auto", batch_size=16, max_length=256,
            cache_dir=None, force=False, device_map=None, quantization=None, layers=None, progress=False,
            owner="score"):
    """Check a scoring job before any model is loaded (see `score` for the arguments) and return its `Plan`.
    Raises BankError (a ValueError) naming the file for references of different N or with NaN / inf, features or a
    dataset of another N, and sample ids that differ between the features (or the dataset) and the references."""
    import alignment
    from empirical import data, features

    metric = _check_metric(metric, owner)
    k = check_int(k, "k", owner, 1)
    n_perm = check_n_perm(n_perm, "n_perm", owner)
    seed = check_int(seed, "seed", owner, 0)
    q = check_real(q, "q", owner, 0, 1, low_open=True)
    force = check_bool(force, "force", owner)
    progress = check_bool(progress, "progress", owner)
    refs = resolve(references, owner)
    model = features_or_model if isinstance(features_or_model, str) and not features_or_model.endswith(".pt") \
        and not Path(features_or_model).is_file() else None
    extraction = dict(pooling=pooling, dtype=dtype, device=device, batch_size=batch_size, max_length=max_length,
                      cache_dir=cache_dir, force=force, device_map=device_map, quantization=quantization,
                      layers=layers, progress=progress)
    computed = [r.model for r in refs if r.model] + ([model] if model else [])
    for name in computed:  # device_map and quantization apply to the language models only
        models.check_name(name, owner)
        features.check_options(owner, models.modality(name), pooling, batch_size, device, dtype, max_length,
                                progress, layers)
        models.check_placement(name, device, *models.placement_for(name, device_map, quantization), owner)
    if cache_dir is not None:
        check_out_dir(cache_dir, "cache_dir", owner)

    # 1. every reference file, checked (no model is loaded)
    files = {}
    for r in refs:
        if r.path is not None:
            f = read(r.path)
            files[r.name] = (f.n, f.ids)
    ns = {name: v[0] for name, v in files.items()}
    if len(set(ns.values())) > 1:
        first = next(iter(ns))
        other = next(n for n in ns if ns[n] != ns[first])
        raise BankError(f"References disagree on N: {refs_path(refs, first)} has {ns[first]} rows, "
                        f"{refs_path(refs, other)} has {ns[other]}. A bank holds features of one dataset.")
    n = next(iter(ns.values()), None)
    ref_ids = next((v[1] for v in files.values() if v[1] is not None), None)
    for name, v in files.items():
        _check_ids(v[1], ref_ids, f"reference {refs_path(refs, name)}", "the other references")
    where = refs_path(refs, next(iter(files))) if files else None

    # 2. the dataset (when a model is computed) and the features' rows
    ds = None
    if computed:
        bank = next((r.bank for r in refs if r.bank.get("dataset")), {}) if dataset is None else {}
        spec = dataset if dataset is not None else bank.get("dataset")
        if spec is None:
            fail(param("dataset", owner), "name the dataset the features are computed on (the references are not a "
                 "bank that records its dataset spec)", "None")
        ds = spec if isinstance(spec, data.PairedDataset) else data.load(data.check_spec(spec, owner, "dataset"))
        sub = bank.get("subset")
        if isinstance(sub, dict) and sub.get("n") is not None and sub["n"] < len(ds):
            ds = ds.subset(sub["n"], sub.get("seed", 0))
        if n is not None and len(ds) != n:
            raise BankError(f"The dataset {ds.name} has {len(ds)} samples but the references have {n} rows "
                            f"({where}); score on the dataset the bank was built on.")
        _check_ids(ds.ids, ref_ids, f"the dataset {ds.name}", f"the references ({where})")
        n = len(ds)
    ours = None
    if model is None:
        _, ours, own_ids = _features_of(features_or_model, owner)
        if n is not None and ours[0].shape[0] != n:
            raise BankError(f"The features have {ours[0].shape[0]} rows but the references have {n} ({where}).")
        _check_ids(ids if ids is not None else own_ids, ref_ids, "the features", f"the references ({where})")
        n = ours[0].shape[0]
    if n is None or n < 2:
        fail(param("references", owner), "hold at least 2 samples", n)
    kw = alignment.metric_kwargs(metric, k=k, cca_dim=cca_dim)
    if "k" in kw:
        check_int(k, "k", owner, 1, n - 1, hint=f"[1, N-1] with N={n} samples")
    return Plan(refs, ds, n, model, ours, metric, kw, n_perm, seed, q, extraction)


def score(features_or_model, references, metric="mutual_knn", k=10, *, dataset=None, n_perm=100, seed=0, q=0.95,
          ids=None, cca_dim=10, pooling="auto", dtype="auto", device="auto", batch_size=16, max_length=256,
          cache_dir=None, force=False, device_map=None, quantization=None, layers=None, progress=True,
          records=None):
    """Score a model's features against references: {reference name: ScoreResult}.

    features_or_model: a model name (its features are computed on `dataset` through the feature cache, with the
    extraction options pooling, dtype, device, batch_size, max_length, device_map, quantization, layers), a feature
    file, an N x L x D tensor (the paper's layout) or a list of N x D_l tensors / arrays.
    references: a folder of feature files, a list of files, 'bank:NAME', model names (computed on `dataset`), or a
    list mixing them (see `resolve`). dataset: an `empirical.data` spec or PairedDataset; default: the bank's
    dataset (bank.json), needed only when a model is computed.
    metric, k, cca_dim: the alignment metric and its parameters; q: the clamp quantile of the layer pipeline.
    n_perm: permutations of the null (0: none; else >= 2), permutation p drawn with seed + p (alignment.permutation).
    ids: the sample ids of given features (checked against the references' ids when both are known).
    progress: bars of the features, the references and the permutations on a terminal (False: none).
    records: a dict that receives, for every model computed here, what results.json records of its features.

    Before any model is loaded (`prepare`): every reference file is read and checked (readable, finite, the same N
    as the others), the dataset is loaded and checked, and the sample ids of the features (or the dataset) are
    compared with the ids the references record (files written by `write`/`build`; the paper's files record none,
    and are taken to be in the dataset's row order). Each result's best_score / best_layers / scores are exactly
    alignment.layerwise(ours, reference, metric, q=q, k=k); null_mean / null_std / z are alignment.calibrate's.
    """
    plan = prepare(features_or_model, references, metric, k, dataset=dataset, n_perm=n_perm, seed=seed, q=q, ids=ids,
                   cca_dim=cca_dim, pooling=pooling, dtype=dtype, device=device, batch_size=batch_size,
                   max_length=max_length, cache_dir=cache_dir, force=force, device_map=device_map,
                   quantization=quantization, layers=layers, progress=progress)
    return run_plan(plan, records)


def run_plan(plan, records=None):
    """Compute what `plan` needs (features through the cache) and score it: {reference name: ScoreResult}."""
    import alignment
    from empirical import features

    cache = {}

    def feats_of(name):
        if name not in cache:
            rep, opts = {}, dict(plan.extraction)
            opts["device_map"], opts["quantization"] = models.placement_for(name, opts["device_map"],
                                                                            opts["quantization"])
            cache[name] = features.cached(name, plan.dataset, report=rep, **opts)
            rep.pop("computed", None)
            rep["clamp"] = {"cached": None, "q": plan.q}
            if records is not None:
                records[name] = rep
        return cache[name]

    ours = feats_of(plan.model) if plan.model is not None else plan.ours
    out = {}
    with quiet(not plan.extraction["progress"]):
        refs = progress(plan.refs, desc="references", unit="reference")
    for r in refs:
        if r.path is not None:
            f = read(r.path)
            theirs, path, num, bpb = f.layers, str(r.path), f.num_params, f.bpb
        else:
            theirs, path, num, bpb = feats_of(r.model), None, None, None
        if plan.n_perm:
            c = alignment.calibrate(ours, theirs, plan.metric, n_perm=plan.n_perm, seed=plan.seed, q=plan.q,
                                    progress=plan.extraction["progress"], **plan.kw)
            res = ScoreResult(r.name, float(c.score), tuple(c.best_layers), np.asarray(c.scores), plan.metric,
                              dict(plan.kw), plan.n, plan.q, float(c.null_mean), float(c.null_std), float(c.z),
                              plan.n_perm, np.asarray(c.null), float(c.p_value), float(c.threshold),
                              float(c.calibrated_score), path, num, bpb)
        else:
            lw = alignment.layerwise(ours, theirs, plan.metric, q=plan.q, **plan.kw)
            res = ScoreResult(r.name, float(lw.best_score), tuple(lw.best_layers), np.asarray(lw.scores),
                              plan.metric, dict(plan.kw), plan.n, plan.q, path=path, num_params=num, bpb=bpb)
        out[r.name] = res
    return out


def refs_path(refs, name):
    r = next((r for r in refs if r.name == name), None)
    return str(r.path) if r is not None and r.path is not None else name


def _check_metric(metric, owner):
    import alignment
    from platonic_core.checks import check_choice

    return check_choice(metric, "metric", owner, alignment.METRICS)


def table(results):
    """A text table of `score`'s results, best first: reference, best score, layer pair, calibrated score,
    p-value, null mean, z."""
    rows = sorted(results.values(), key=lambda r: -r.best_score)
    width = max([len("reference")] + [len(r.reference) for r in rows])
    lines = [f"{'reference':<{width}}  {'best':>7}  {'layers':>9}  {'calibrated':>10}  {'p':>6}  {'null mean':>9}  "
             f"{'z':>7}"]
    for r in rows:
        cells = ([f"{r.calibrated_score:10.4f}", f"{r.p_value:6.3f}", f"{r.null_mean:9.4f}", f"{r.z:7.1f}"]
                 if r.null_mean is not None else [f"{'-':>10}", f"{'-':>6}", f"{'-':>9}", f"{'-':>7}"])
        lines.append(f"{r.reference:<{width}}  {r.best_score:7.4f}  {str(tuple(r.best_layers)):>9}  "
                     + "  ".join(cells))
    return "\n".join(lines)


def plot(results, title=None):
    """Bars of each reference's best score, with the null mean +- std (when computed) and z written beside."""
    plt = runio.pyplot()
    rows = sorted(results.values(), key=lambda r: r.best_score)
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.6))
    y = np.arange(len(rows))
    ax.barh(y, [r.best_score for r in rows], color="tab:blue", label="best score (max over layer pairs)")
    if any(r.null_mean is not None for r in rows):
        nulls = [(i, r) for i, r in enumerate(rows) if r.null_mean is not None]
        ax.errorbar([r.null_mean for _, r in nulls], [i for i, _ in nulls], xerr=[r.null_std for _, r in nulls],
                    fmt="|", color="k", markersize=12, capsize=3, label="permutation null mean +- std")
        for i, r in nulls:
            ax.text(r.best_score, i, f"  calibrated {r.calibrated_score:.3f}, p={r.p_value:.3g}", va="center",
                    fontsize=7)
    ax.set_yticks(y, [r.reference for r in rows], fontsize=7)
    first = rows[-1] if rows else None
    ax.set_xlabel(f"{first.metric} {first.params}" if first else "score")
    ax.set_title(title or "Alignment with each reference", fontsize=10)
    runio.legend_outside(ax)  # beside the axes: it hides no bar and no "calibrated" label
    return fig


# ---------------------------------------------------------------- building banks


def language_stats(model, texts, *, max_length=256, device="auto", dtype="auto"):
    """The paper's language-model extras for a bank file: `mask` (attention mask of the texts tokenised together,
    padded to the longest, truncated at max_length), and for causal LMs `loss` (mean over texts of the mean token
    cross-entropy, nats) and `bpb` (mean over texts of bits-per-byte), from `empirical.bpb.token_bits`."""
    import math

    from empirical import bpb

    loaded = models.load(model, device=device, dtype=dtype) if isinstance(model, str) else model
    mask = loaded.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")["attention_mask"]
    out = {"mask": mask}
    if loaded.causal:
        rows = bpb.token_bits(loaded, list(texts), max_length=max(2, max_length))
        out["loss"] = float(np.mean([b * math.log(2) / max(t, 1) for b, _, t in rows]))
        out["bpb"] = float(np.mean([b / nb for b, nb, _ in rows]))
    return out


def build(model_names, dataset, *, out=None, name=None, pooling="auto", dtype="auto", device="auto", batch_size=16,
          max_length=256, cache_dir=None, force=False, layers=None, device_map=None, quantization=None,
          extras=True, devices=1, accelerator="auto", progress=False, subset=None, spec=None):
    """Write a bank: one feature file per model (`write`'s format) of `dataset` (a spec or PairedDataset), through
    the feature cache, plus bank.json. Where: `out`, or banks_root()/`name` (then usable as 'bank:NAME').
    extras: also num_params, and for language models the paper's mask, loss and bpb (loads causal LMs once more).
    devices > 1: the cache is filled by that many processes first (`empirical.distributed.fill`).
    spec, subset: when `dataset` is a PairedDataset, the data spec it was loaded from and {'n': N, 'seed': S} when it
    is the seeded subset `data.load(spec).subset(N, S)` (recorded, so that `score` can rebuild it from the bank).
    Returns (folder, {model: record}), records as `features.record` makes them."""
    from empirical import data, distributed, features

    owner = "bank.build"
    if isinstance(model_names, str):
        model_names = [model_names]
    if not isinstance(model_names, (list, tuple)) or not model_names:
        fail(param("model_names", owner), "be a non-empty list of model names", repr(model_names))
    for m in model_names:
        models.check_name(m, owner)
        features.check_options(owner, models.modality(m), pooling, batch_size, device, dtype, max_length, progress,
                                layers)
        models.check_placement(m, device, *models.placement_for(m, device_map, quantization), owner)
    if len(set(model_names)) < len(model_names):
        fail(param("model_names", owner), "list distinct models", repr(list(model_names)))
    if (out is None) == (name is None):
        fail("'out' and 'name' parameters of bank.build", "be given one and only one", f"out={out!r}, name={name!r}")
    if name is not None and (not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name)):
        fail(param("name", owner), "be a bank name of letters, digits, '_', '.', '-'", repr(name))
    folder = check_out_dir(out, "out", owner) if out is not None else banks_root() / name
    extras = check_bool(extras, "extras", owner)
    check_int(devices, "devices", owner, 1)
    ds = dataset if isinstance(dataset, data.PairedDataset) else data.load(data.check_spec(dataset, owner, "dataset"))
    spec = dataset if isinstance(dataset, str) else spec
    kw = dict(pooling=pooling, dtype=dtype, device=device, batch_size=batch_size, max_length=max_length,
              cache_dir=cache_dir, layers=layers)
    if devices > 1:
        if accelerator == "cpu" or (accelerator == "auto" and torch.cuda.device_count() < devices):
            kw["device"] = "cpu"  # the processes computed on the CPU: key the cache as they did
        distributed.fill(model_names, ds, devices=devices, accelerator=accelerator, force=force, **kw)
        force = False
    records, files = {}, {}
    for m in model_names:
        rep, extra, loaded = {}, {}, None
        dm, qz = models.placement_for(m, device_map, quantization)
        if extras and models.modality(m) == "language":  # loaded once, for the features and the extras
            loaded = models.load(m, device=kw["device"], dtype=dtype, device_map=dm, quantization=qz)
        feats = features.cached(m, ds, force=force, device_map=dm, quantization=qz, progress=progress, report=rep,
                                loaded=loaded, **kw)
        rep.pop("computed", None)
        if extras:
            extra["num_params"] = models.num_params(m)
            if loaded is not None:
                st = language_stats(loaded, ds.captions, max_length=max_length)
                extra.update(st)
                rep.update({k: st[k] for k in ("loss", "bpb") if k in st})
            loaded = None
        file = f"{safe_name(m)}_pool-{pooling}.pt"
        meta = {"model": m, "dataset": ds.name, "spec": spec, "subset": subset, "ids": list(ds.ids), "record": rep,
                "format": FORMAT}
        write(folder / file, feats, meta=meta, **extra)
        records[m], files[file] = rep, m
    runio.write_json(folder / BANK_FILE, {"name": name or folder.name, "dataset": spec, "subset": subset,
                                          "dataset_name": ds.name, "n": len(ds), "ids": list(ds.ids),
                                          "models": files, "records": records})
    return folder, records
