"""Training throughput of the petlesson pipeline on this machine, against the model-only bound.

Prints, for the offline backbone (EfficientNet-Lite0) at the data source's image size:
  * the model-only bound: the same model stepping on random tensors of the batch's shape, frozen and unfrozen,
    and forward only (inference);
  * the end-to-end throughput of the real pipeline (data loading, augmentation, model, fastai's loop), for the
    frozen and unfrozen phases of `fine_tune` and for inference (`get_preds` on the validation set), for up to three
    pipelines: the book's (fastai's `Resize` and `aug_transforms(min_scale=0.75)`, two resamplings, every file decoded
    every epoch, fastai's `Adam`), petlesson's default (the same transforms and output, computed by lesson 01's
    `fast_tfms`; images decoded once by `ImageCache`; the optimiser step by `FusedAdam`), and `one-pass` (the default
    with the crop folded into the affine step, which trains differently: see lesson 01);
  * the ratio end-to-end / bound for each;
  * where a training batch's time goes (item loading + collation, batch transforms, model step);
  * the wall time of one `petlesson --epochs 1` run (skip with --no-cli).
`pets_learner` switches glibc's malloc to keep freed memory (lesson 02); --default-malloc measures without that, for
the bound and every pipeline alike (the setting is the process's).

Usage: python bench/training.py [--data sample] [--bs 32] [--steps 10] [--repeats 3] [--pipelines book petlesson] [--no-cli] [--default-malloc]
The machine is shared: the load average is printed next to the results, the measurements take turns, and each
figure is the best of --repeats runs. The image cache is filled before timing (its first pass is printed): the
throughputs are those of the second and later epochs.
"""
from __future__ import annotations
import argparse, os, subprocess, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
import torch
from fastai.callback.core import Callback, CancelTrainException, CancelValidException
from petlesson.data import pets_dataloaders, default_sizes
from petlesson.learner import pets_learner, ChannelsLastInputs, keep_freed_memory, _fused_available
from fastai.callback.progress import ProgressCallback
from fastai.optimizer import Adam

FUSED = dict(fused=True) if _fused_available() else {}

class Clock:
    "Wall and CPU time (all threads of this process) between start and stop; CPU time is steadier on a shared machine"
    def start(self): self.w, self.c = time.perf_counter(), time.process_time(); return self
    def stop(self, n): self.n, self.dw, self.dc = n, time.perf_counter() - self.w, time.process_time() - self.c; return self
    @property
    def ips(self): return (self.n / self.dw, self.n / self.dc)   # images per wall second, per CPU second

def best_of(fn, repeats):
    runs = [fn() for _ in range(repeats)]
    return tuple(max(r[i] for r in runs) for i in range(2))

def model_bound(learn, bs, size, steps, frozen, train=True):
    "Images per second of the bare model (no data pipeline, no fastai loop) on random tensors"
    model = learn.model
    learn.freeze() if frozen else learn.unfreeze()
    xb, yb = torch.randn(bs, 3, size, size), torch.randint(0, 37, (bs,))
    if not train:
        model.eval()
        with torch.inference_mode():
            model(xb)
            c = Clock().start()
            for _ in range(steps): model(xb)
        return c.stop(steps * bs).ips
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4, **FUSED)   # PyTorch's fastest Adam: the strictest bound
    def step():
        opt.zero_grad(); torch.nn.functional.cross_entropy(model(xb), yb).backward(); opt.step()
    step()
    c = Clock().start()
    for _ in range(steps): step()
    return c.stop(steps * bs).ips

class TrainTimer(Callback):
    "Time the training batches only (not validation), after a warm-up batch"
    order = 0
    def before_fit(self): self.clock, self.n = None, 0
    def after_batch(self):   # the clock starts after the first batch, so it covers fetching and stepping the others
        if not self.training: return
        if self.clock is None: self.clock = Clock().start()
        else: self.n += len(self.yb[0]); self.clock.stop(self.n)
    @property
    def ips(self): return self.clock.ips

def end_to_end(learn, frozen, steps):
    "Images per second of fastai's training loop on the real pipeline, for `steps` batches of one phase"
    learn.freeze() if frozen else learn.unfreeze()
    timer = TrainTimer()
    dl = learn.dls.train
    n_batches = min(len(dl), steps + 1)
    with learn.no_logging(): learn.fit_one_cycle(1, 1e-4, cbs=[timer, StopAfter(n_batches)])
    return timer.ips

class StopAfter(Callback):
    "Stop the epoch after `n` training batches and skip validation"
    order = 1
    def __init__(self, n): self.n = n
    def after_batch(self):
        if self.training and self.iter + 1 >= self.n: raise CancelTrainException()
    def before_validate(self): raise CancelValidException()

def inference(learn):
    c = Clock().start()
    preds, _ = learn.get_preds()
    return c.stop(len(preds)).ips

def breakdown(learn, steps):
    "Seconds per training batch spent in item loading + collation, in batch transforms, and in the model step"
    dl = learn.dls.train
    dl.before_iter()
    idxs = dl.get_idxs()[:steps * dl.bs]
    t = time.perf_counter()
    raw = [dl.create_batch([dl.do_item(i) for i in idxs[k*dl.bs:(k+1)*dl.bs]]) for k in range(steps)]
    t_items = (time.perf_counter() - t) / steps
    t = time.perf_counter()
    batches = [dl.after_batch(b) for b in raw]
    t_batch = (time.perf_counter() - t) / steps
    dl.after_iter()
    return t_items, t_batch

PIPELINES = {   # name: (arguments to `pets_dataloaders`, arguments to `pets_learner`)
    # the book's: fastai's Resize and aug_transforms(min_scale=0.75), two resamplings; every file decoded every epoch; fastai's Adam
    'book': (dict(one_pass=False, cache_mb=0, fast=False), dict(opt_func=Adam)),
    # petlesson's defaults: the book's transforms and output by `fast_tfms`, images decoded once (ImageCache), FusedAdam
    'petlesson': (dict(), dict()),
    # petlesson's defaults with the crop folded into the affine step (one resampling): faster, but see lesson 01
    'one-pass': (dict(one_pass=True), dict()),
}

def fill_cache(dl):
    "Load every training item once (what the first epoch pays for an `ImageCache`); seconds taken"
    t = time.perf_counter()
    for i in range(len(dl.dataset)): dl.do_item(i)
    return time.perf_counter() - t

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='sample'); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--steps', type=int, default=10, help="training batches timed per run (after one warm-up batch)")
    p.add_argument('--repeats', type=int, default=3, help="runs of every measurement, interleaved; the best counts")
    p.add_argument("--no-cli", action="store_true")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes (the pipeline default is 0)")
    p.add_argument('--pipelines', nargs='*', default=list(PIPELINES), choices=list(PIPELINES), help="data pipelines to compare")
    p.add_argument('--contiguous', action='store_true', help="measure the default memory format (the 'before' of channels-last)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's choice)")
    p.add_argument("--default-malloc", action="store_true",
                   help="leave glibc's malloc as it is (the 'before' of `keep_freed_memory`, which `pets_learner` otherwise calls)")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    size = default_sizes(a.data)[1]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    learners = {}
    for name in a.pipelines:
        dls = pets_dataloaders(a.data, bs=a.bs, num_workers=a.num_workers, **PIPELINES[name][0])
        learn = learners[name] = pets_learner(dls, keep_memory=not a.default_malloc, **PIPELINES[name][1])
        learn.model.to(memory_format=torch.contiguous_format if a.contiguous else torch.channels_last)
        if a.contiguous: learn.remove_cb(ChannelsLastInputs)
        learn.remove_cb(ProgressCallback)
    fmt = 'contiguous' if a.contiguous else 'channels_last'
    malloc = 'default malloc' if a.default_malloc else f"malloc keeping freed memory: {keep_freed_memory()}"
    print(f"data + learners built in {time.perf_counter()-t:.1f} s; {len(dls.train_ds)} training images, bs {a.bs}, {size} px, {fmt} model, {malloc}")
    for name, learn in learners.items():
        if PIPELINES[name][0].get('cache_mb', 1): print(f"{name}: first pass over the training items (fills the image cache): {fill_cache(learn.dls.train):.1f} s")
    learn = next(iter(learners.values()))   # the bound is the model's alone: any of the (identical) learners will do
    for frozen in (False, True): model_bound(learn, a.bs, size, 2, frozen)   # warm-up: oneDNN prepares its kernels once per shape and layout
    phases = {'frozen': dict(frozen=True), 'unfrozen': dict(frozen=False), 'inference': dict(frozen=False, train=False)}
    bound = {k: (0., 0.) for k in phases}
    e2e = {(k, n): (0., 0.) for k in phases for n in learners}
    best = lambda old, new: tuple(max(o, n) for o, n in zip(old, new))
    for r in range(a.repeats):   # interleaved, so that a burst of load elsewhere hits the bound and the pipelines alike
        for k, kw in phases.items():
            bound[k] = best(bound[k], model_bound(learn, a.bs, size, a.steps, **kw))
            for n, l in learners.items():
                e2e[k, n] = best(e2e[k, n], inference(l) if k == 'inference' else end_to_end(l, kw['frozen'], a.steps))
    for i, unit in enumerate(['wall second', 'CPU second (all threads)']):
        print(f"\nimages per {unit}")
        print(f"{'phase':<10} {'bound':>8} " + ' '.join(f"{n:>11} {'ratio':>6}" for n in learners))
        for k in phases:
            print(f"{k:<10} {bound[k][i]:>8.1f} " + ' '.join(f"{e2e[k, n][i]:>11.1f} {e2e[k, n][i]/bound[k][i]:>6.0%}" for n in learners))
    print(f"\nper training batch of {a.bs}: model step (bound) {a.bs/bound['frozen'][0]*1000:.0f} ms frozen, {a.bs/bound['unfrozen'][0]*1000:.0f} ms unfrozen")
    for n, l in learners.items():
        t_items, t_batch = breakdown(l, a.steps)
        print(f"  {n:<10} items + collation {t_items*1000:>4.0f} ms, batch transforms {t_batch*1000:>4.0f} ms")
    if not a.no_cli:
        with tempfile.TemporaryDirectory() as d:
            exe = Path(sys.executable).parent/'petlesson'
            cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ['-m', 'petlesson.cli']),
                   '--data', a.data, '--epochs', '1', '--out', d, *(['--threads', str(a.threads)] if a.threads else [])]
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            print(f"\none `petlesson --data {a.data} --epochs 1` run: {time.perf_counter()-t:.1f} s (exit {r.returncode})")
            if r.returncode: print(r.stderr[-2000:])
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")

if __name__ == '__main__': main()
