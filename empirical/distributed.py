"""Feature extraction across processes or GPUs: Lightning's `Trainer.predict` under DDP fills the feature cache.

`fill(models, dataset, devices=W, accelerator=...)` writes exactly the files `features.cached` writes — the same
cache key, the same chunk boundaries (chunk-START-STOP.pt), atomically — with W processes: rank r computes the
missing chunks r, r + W, r + 2W, ... of each model (no chunk twice, no padding of the last rank), each rank
loading the model on its own device (cuda:r on GPUs, the CPU with the gloo backend otherwise). Afterwards
`features.cached` with the same options reads every chunk and computes nothing, so a run on W processes gives
the features one process gives (bitwise, on the CPU with the same torch thread count, which every rank takes from
the caller). Processes are started with 'spawn' (Lightning's DDP strategy, start_method='spawn'), so this works from
the command line, a notebook or a test alike; everything a rank needs (model name, dataset, options) is pickled.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from empirical import features, models
from platonic_core.checks import check_choice, check_int, fail, param

ACCELERATORS = ("auto", "cpu", "gpu", "cuda")


def _collate(items):
    return items


class ChunkExtractor(pl.LightningModule):
    """predict_step(chunk) computes one cache chunk of one model on this rank's device and writes it (atomically);
    returns nothing. Rank r of W takes jobs r, r + W, ... (`predict_dataloader`)."""

    def __init__(self, jobs, dataset, options, threads):
        super().__init__()
        self.jobs, self.dataset, self.options, self.threads = jobs, dataset, options, threads
        self._loaded = {}

    def setup(self, stage):
        import warnings

        torch.set_num_threads(self.threads)
        warnings.filterwarnings("ignore", message=".*predict returned None.*")  # on purpose: the files are the output

    def predict_dataloader(self):
        rank, world = self.trainer.global_rank, self.trainer.world_size
        return torch.utils.data.DataLoader(self.jobs[rank::world], batch_size=1, shuffle=False, collate_fn=_collate)

    def predict_step(self, batch, batch_idx):
        for name, dtype, quantization, start, stop, path in batch:
            m = self._loaded.get(name)
            if m is None:
                self._loaded.clear()  # one model in memory at a time
                dev = self.trainer.strategy.root_device
                m = self._loaded[name] = models.load(name, device=str(dev), dtype=dtype, quantization=quantization)
            o, rep = self.options, {}
            feats = features.compute_chunk(m, self.dataset, start, stop, pooling=o["pooling"],
                                           batch_size=o["batch_size"], max_length=o["max_length"],
                                           layers=o["layers"], report=rep)
            features.write_chunk(path, feats, o["batch_size"], rep)
        return None


def plan(model_names, dataset, *, pooling="auto", dtype="auto", device="auto", batch_size=16, max_length=256,
         layers=None, quantization=None, cache_dir=None, chunk_size=64, force=False):
    """The chunks still missing from the cache: a list of (model, dtype, quantization, start, stop, path), after
    writing each entry's key.json (as `features.cached` does)."""
    jobs = []
    for name in model_names:
        key = features.cache_key(name, dataset, pooling, dtype, max_length, batch_size=batch_size, layers=layers,
                                 quantization=quantization, device=device)
        where = features.entry_dir(key, cache_dir)
        fresh = not features._check_key_file(where, key) or force
        for s in range(0, len(dataset), chunk_size):
            stop = min(s + chunk_size, len(dataset))
            path = features.chunk_path(where, s, stop)
            if fresh or not path.is_file():
                jobs.append((name, key["dtype"], quantization, s, stop, path))
    return jobs


def fill(model_names, dataset, *, devices=2, accelerator="auto", pooling="auto", dtype="auto", device="auto",
         batch_size=16, max_length=256, layers=None, quantization=None, cache_dir=None, chunk_size=64, force=False):
    """Fill the feature cache of every model in `model_names` on `dataset` with `devices` processes (see the module
    docstring). accelerator: 'cpu' (gloo), 'gpu'/'cuda' (one process per GPU, nccl), or 'auto' (GPUs when there are
    at least `devices`, else the CPU). `device` only resolves dtype 'auto' (bfloat16 where the GPUs support it).
    Returns the number of chunks computed. Everything is validated before any process starts."""
    owner = "distributed.fill"
    from empirical import data

    if isinstance(model_names, str):
        model_names = [model_names]
    if not isinstance(model_names, (list, tuple)) or not model_names:
        fail(param("model_names", owner), "be a non-empty list of model names", repr(model_names))
    if not isinstance(dataset, data.PairedDataset):
        fail(param("dataset", owner), "be an empirical.data.PairedDataset", type(dataset).__name__, TypeError)
    devices = check_int(devices, "devices", owner, 1)
    accelerator = check_choice(accelerator, "accelerator", owner, ACCELERATORS)
    check_int(chunk_size, "chunk_size", owner, 1)
    gpus = torch.cuda.device_count()
    if accelerator == "auto":
        accelerator = "gpu" if gpus >= devices else "cpu"
    if accelerator in ("gpu", "cuda") and gpus < devices:
        fail(param("devices", owner), f"be at most the number of GPUs ({gpus})", devices)
    for name in model_names:
        models.check_name(name, owner)
        features.check_options(owner, models.modality(name), pooling, batch_size, device, dtype, max_length, False,
                                layers)
        models.check_placement(name, "auto", None, quantization, owner)
    if accelerator == "cpu":
        device = "cpu"
    jobs = plan(model_names, dataset, pooling=pooling, dtype=dtype, device=device, batch_size=batch_size,
                max_length=max_length, layers=layers, quantization=quantization, cache_dir=cache_dir,
                chunk_size=chunk_size, force=force)
    if not jobs:
        return 0
    from pytorch_lightning.strategies import DDPStrategy

    options = {"pooling": pooling, "batch_size": batch_size, "max_length": max_length,
               "layers": features.check_layers(layers, owner)}
    module = ChunkExtractor(jobs, dataset, options, torch.get_num_threads())
    strategy = DDPStrategy(start_method="spawn", process_group_backend="gloo" if accelerator == "cpu" else None)
    trainer = pl.Trainer(accelerator="cpu" if accelerator == "cpu" else "gpu", devices=devices, strategy=strategy,
                         logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, use_distributed_sampler=False)
    trainer.predict(module, return_predictions=False)
    return len(jobs)
