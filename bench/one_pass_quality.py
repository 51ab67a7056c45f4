"""Does the one-pass batch step train as well as the book's two passes? Validation error, seed by seed.

For each seed (which also picks the train/validation split), trains the baseline recipe of lesson 02
(`pets_learner`, `fine_tune(epochs, base_lr=lr, freeze_epochs=1)`) twice on the same data: once with the
book's transforms (`pets_dataloaders(..., one_pass=False)`, the default) and once with
`one_pass=True` (`one_pass_aug_transforms`: the random crop folded into the affine step, one resampling).
Prints both validation error rates per seed, the difference, and the mean difference with its standard error.

Usage: python bench/one_pass_quality.py [--data sample] [--seeds 42 1 2 3] [--epochs 2] [--threads N]
Each training takes about a minute on two CPU cores with the sample.
"""
from __future__ import annotations
import argparse, math, os, time, warnings
warnings.filterwarnings('ignore')
import torch
from fastai.callback.progress import ProgressCallback
from fastai.torch_core import set_seed
from petlesson.data import pets_dataloaders
from petlesson.learner import pets_learner

def train_error(data, seed, one_pass, epochs, lr):
    "Validation error rate after the baseline `fine_tune` with the given batch step"
    dls = pets_dataloaders(data, seed=seed, one_pass=one_pass)
    set_seed(seed, reproducible=True)
    learn = pets_learner(dls)
    learn.remove_cb(ProgressCallback)
    with learn.no_logging(): learn.fine_tune(epochs, base_lr=lr, freeze_epochs=1)
    return float(learn.validate()[1]), len(dls.valid_ds)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='sample')
    p.add_argument('--seeds', type=int, nargs='+', default=[42, 1, 2, 3])
    p.add_argument('--epochs', type=int, default=2); p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--threads', type=int, default=None)
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; data {a.data}; fine_tune({a.epochs}, base_lr={a.lr:g}, freeze_epochs=1)")
    print(f"{'seed':>5} {'book (two passes)':>18} {'one pass':>9} {'difference':>11}")
    diffs = []
    for seed in a.seeds:
        t = time.perf_counter()
        (book, n), (one, _) = train_error(a.data, seed, False, a.epochs, a.lr), train_error(a.data, seed, True, a.epochs, a.lr)
        diffs.append(one - book)
        print(f"{seed:>5} {book:>18.3f} {one:>9.3f} {one - book:>+11.3f}   ({(one - book) * n:+.0f} of {n} images, {time.perf_counter() - t:.0f} s)", flush=True)
    m = sum(diffs) / len(diffs)
    se = f"{math.sqrt(sum((d - m) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)):.3f}" if len(diffs) > 1 else 'n/a (one seed)'
    print(f"mean difference (one pass - book): {m:+.3f} error rate, standard error {se}; one pass worse on "
          f"{sum(d > 0 for d in diffs)} of {len(diffs)} seeds, better on {sum(d < 0 for d in diffs)}")

if __name__ == '__main__': main()
