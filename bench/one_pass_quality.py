"""Does the one-pass batch step train as well as fastai's default two passes? Validation error, seed by seed.

For each seed (which also picks the train/validation split), trains the book's recipe (`pets_learner`, fastai's
`Adam`, `fine_tune(epochs, base_lr=lr, freeze_epochs=1)`) twice on the same data: once with fastai's default batch
step (`pets_dataloaders`: `aug_transforms(min_scale=0.75)`, two resamplings) and once with the random crop folded into
the affine step (`speed_up_dataloaders(dls, one_pass=True, cache_mb=0)` from `petlesson.speed`: one resampling, one
crop window per image). Nothing else differs: the fast transforms compute fastai's own pixels, and the image cache is
off. Prints both validation error rates per seed, the difference, and the mean difference with its standard error.

Usage: python bench/one_pass_quality.py [--data sample] [--seeds 42 1 2 3] [--epochs 2] [--lr 0.002] [--bs 32] [--size 224] [--threads N]
Each training takes a few minutes on two CPU cores with the sample at 224 pixels.
"""
from __future__ import annotations
import argparse, math, sys, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from fastai.callback.progress import ProgressCallback
from fastai.torch_core import set_seed
from petlesson.pets import pets_dataloaders, default_sizes
from petlesson.models import pets_learner
from petlesson.speed import speed_up_dataloaders

def train_error(data, seed, one_pass, epochs, lr, bs, size=None):
    "Validation error rate after the book's `fine_tune`, with fastai's default batch step or the one-pass one"
    d_presize, d_size = default_sizes(data)
    sizes = dict(presize=round(size * d_presize / d_size), size=size) if size else {}
    dls = pets_dataloaders(data, seed=seed, bs=bs, **sizes)
    if one_pass: speed_up_dataloaders(dls, one_pass=True, cache_mb=0)
    set_seed(seed, reproducible=True)
    learn = pets_learner(dls)
    learn.remove_cb(ProgressCallback)
    with learn.no_logging(): learn.fine_tune(epochs, base_lr=lr, freeze_epochs=1)
    return float(learn.validate()[1]), len(dls.valid_ds)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='sample', help="data source, as for pets_dataloaders (default: sample)")
    p.add_argument('--seeds', type=int, nargs='+', default=[42, 1, 2, 3], help="one pair of trainings per seed (default: 42 1 2 3)")
    p.add_argument('--epochs', type=int, default=2, help="unfrozen epochs of fine_tune, after one frozen epoch (default: 2)")
    p.add_argument('--lr', type=float, default=2e-3, help="base_lr of fine_tune (default: 0.002)")
    p.add_argument('--bs', type=int, default=32, help="batch size (default: 32, the book's)")
    p.add_argument('--size', type=int, default=None, help="training size in pixels, the presize in proportion (default: the data's, 224 for photos)")
    p.add_argument('--threads', type=int, default=None, help="torch.set_num_threads (default: PyTorch's choice)")
    a = p.parse_args(argv)
    if a.epochs < 0: p.error('--epochs must be 0 or more')
    if a.threads: torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; data {a.data}; bs {a.bs}; size {a.size or default_sizes(a.data)[1]}; "
          f"fine_tune({a.epochs}, base_lr={a.lr:g}, freeze_epochs=1)")
    print(f"{'seed':>5} {'fastai default':>15} {'one pass':>9} {'difference':>11}")
    diffs = []
    for seed in a.seeds:
        t = time.perf_counter()
        (two, n), (one, _) = (train_error(a.data, seed, one_pass, a.epochs, a.lr, a.bs, a.size) for one_pass in (False, True))
        diffs.append(one - two)
        print(f"{seed:>5} {two:>15.3f} {one:>9.3f} {one - two:>+11.3f}   ({(one - two) * n:+.0f} of {n} images, {time.perf_counter() - t:.0f} s)", flush=True)
    m = sum(diffs) / len(diffs)
    se = f"{math.sqrt(sum((d - m) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)):.3f}" if len(diffs) > 1 else 'n/a (one seed)'
    print(f"mean difference (one pass - fastai default): {m:+.3f} error rate, standard error {se}; one pass worse on "
          f"{sum(d > 0 for d in diffs)} of {len(diffs)} seeds, better on {sum(d < 0 for d in diffs)}")

if __name__ == '__main__': main()
