"""Training throughput on this machine: fastai's defaults against `petlesson.speed`, and both against the model-only bound.

Prints, for the offline backbone (EfficientNet-Lite0) at the data source's image size:
  * the model-only bound: the same model stepping on random tensors of the batch's shape (channels last, PyTorch's
    fused Adam: the fastest this model trains here), frozen and unfrozen, and forward only (inference);
  * the end-to-end throughput of each pipeline (data loading, augmentation, model, fastai's loop), for the frozen and
    unfrozen phases of `fine_tune` and for inference (`get_preds` on the validation set):
      - `fastai-default`: lesson 00's `pets_dataloaders` and lesson 02's `pets_learner`, as they come: fastai's
        `Resize` and `aug_transforms(min_scale=0.75)` (two resamplings), every file decoded every epoch, fastai's `Adam`,
        channels-first tensors;
      - `petlesson.speed`: the same, upgraded by `speed_up` (lesson 08): the same transforms and output computed by
        `fast_tfms`, images decoded once by `ImageCache`, `FusedAdam`, `ChannelsLastInputs`;
      - `speed+one-pass`: `speed_up(..., one_pass=True)`, the crop folded into the affine step (one resampling), which
        trains on other images (see lesson 08 and bench/one_pass_quality.py);
  * the ratio end-to-end / bound for each;
  * where a training batch's time goes (item loading + collation, batch transforms);
  * the wall time of one `petlesson --epochs 1` run, and of `petlesson --fast --epochs 1` where the command has
    that switch (skip both with --no-cli).
The allocator switch of lesson 08 (`keep_freed_memory`) belongs to the whole process, so it applies to every row or
to none: none by default (fastai's default is glibc's default), every row with --keep-memory.

Usage: python bench/training.py [--data sample] [--bs 32] [--size 224] [--steps 10] [--repeats 3]
                                [--pipelines fastai-default petlesson.speed] [--keep-memory] [--no-cli]
The machine may be shared: the load average is printed next to the results, the measurements take turns, and each
figure is the best of --repeats runs. The image cache is filled before timing (its first pass is printed): the
throughputs are those of the second and later epochs.
"""
from __future__ import annotations
import argparse, os, subprocess, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from fastai.callback.core import Callback, CancelTrainException, CancelValidException
from fastai.callback.progress import ProgressCallback
from petlesson.pets import pets_dataloaders as _pets_dataloaders, default_sizes
from petlesson.models import pets_learner
from petlesson.speed import speed_up, keep_freed_memory, _fused_available

FUSED = dict(fused=True) if _fused_available() else {}

class Clock:
    "Wall and CPU time (all threads of this process) between start and stop; CPU time is steadier on a shared machine"
    def start(self): self.w, self.c = time.perf_counter(), time.process_time(); return self
    def stop(self, n): self.n, self.dw, self.dc = n, time.perf_counter() - self.w, time.process_time() - self.c; return self
    @property
    def ips(self): return (self.n / self.dw, self.n / self.dc)   # images per wall second, per CPU second

def model_bound(learn, bs, size, steps, frozen, train=True):
    "Images per second of the bare model (no data pipeline, no fastai loop) on random channels-last tensors"
    model = learn.model.to(memory_format=torch.channels_last)
    learn.freeze() if frozen else learn.unfreeze()
    xb, yb = torch.randn(bs, 3, size, size).contiguous(memory_format=torch.channels_last), torch.randint(0, 37, (bs,))
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

class StopAfter(Callback):
    "Stop the epoch after `n` training batches and skip validation"
    order = 1
    def __init__(self, n): self.n = n
    def after_batch(self):
        if self.training and self.iter + 1 >= self.n: raise CancelTrainException()
    def before_validate(self): raise CancelValidException()

def end_to_end(learn, frozen, steps):
    "Images per second of fastai's training loop on the real pipeline, for `steps` batches of one phase"
    learn.freeze() if frozen else learn.unfreeze()
    timer = TrainTimer()
    n_batches = min(len(learn.dls.train), steps + 1)
    with learn.no_logging(): learn.fit_one_cycle(1, 1e-4, cbs=[timer, StopAfter(n_batches)])
    return timer.ips

def inference(learn):
    c = Clock().start()
    preds, _ = learn.get_preds()
    return c.stop(len(preds)).ips

def breakdown(learn, steps):
    "Seconds per training batch spent in item loading + collation, and in batch transforms"
    dl = learn.dls.train
    dl.before_iter()
    idxs = dl.get_idxs()[:steps * dl.bs]
    t = time.perf_counter()
    raw = [dl.create_batch([dl.do_item(i) for i in idxs[k*dl.bs:(k+1)*dl.bs]]) for k in range(steps)]
    t_items = (time.perf_counter() - t) / steps
    t = time.perf_counter()
    for b in raw: dl.after_batch(b)
    t_batch = (time.perf_counter() - t) / steps
    dl.after_iter()
    return t_items, t_batch

SIZES = {}   # presize and size, when --size overrides the data source's defaults

def pets_dataloaders(data, **kwargs): return _pets_dataloaders(data, **SIZES, **kwargs)

PIPELINES = {   # name: how to build the learner from (data source, batch size, worker processes)
    'fastai-default': lambda data, bs, nw: pets_learner(pets_dataloaders(data, bs=bs, num_workers=nw)),
    'petlesson.speed': lambda data, bs, nw: speed_up(pets_learner(pets_dataloaders(data, bs=bs, num_workers=nw)), keep_memory=False),
    'speed+one-pass': lambda data, bs, nw: speed_up(pets_learner(pets_dataloaders(data, bs=bs, num_workers=nw)), one_pass=True, keep_memory=False),
}

def fill_cache(dl):
    "Load every training item once (what the first epoch pays for an `ImageCache`); seconds taken"
    t = time.perf_counter()
    for i in range(len(dl.dataset)): dl.do_item(i)
    return time.perf_counter() - t

def cli_run(data, threads, fast):
    "Wall seconds and exit code of one `petlesson --data DATA --epochs 1` run (with --fast if asked)"
    with tempfile.TemporaryDirectory() as d:
        exe = Path(sys.executable).parent/'petlesson'
        cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ['-m', 'petlesson.command']),
               '--data', data, '--epochs', '1', '--out', d, *(['--threads', str(threads)] if threads else []), *(['--fast'] if fast else [])]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        return time.perf_counter() - t, r

def has_fast_switch():
    "Whether the installed command offers --fast"
    exe = Path(sys.executable).parent/'petlesson'
    cmd = [str(exe)] if exe.exists() else [sys.executable, '-m', 'petlesson.command']
    return '--fast' in subprocess.run([*cmd, '--help'], capture_output=True, text=True).stdout

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='sample', help="data source, as for pets_dataloaders (default: sample)")
    p.add_argument('--bs', type=int, default=32, help="batch size (default: 32)")
    p.add_argument('--size', type=int, default=None, help="training size in pixels, the presize in proportion (default: the data's, 224 for photos)")
    p.add_argument('--steps', type=int, default=10, help="training batches timed per run, after one warm-up batch (default: 10)")
    p.add_argument('--repeats', type=int, default=3, help="runs of every measurement, interleaved; the best counts (default: 3)")
    p.add_argument('--pipelines', nargs='+', default=list(PIPELINES), choices=list(PIPELINES), help="pipelines to compare (default: all)")
    p.add_argument('--keep-memory', action='store_true', help="call keep_freed_memory() first: every row, the bound included, runs with it")
    p.add_argument('--num-workers', type=int, default=0, help="DataLoader worker processes (the lessons' default is 0)")
    p.add_argument('--threads', type=int, default=None, help="torch.set_num_threads (default: PyTorch's choice)")
    p.add_argument('--no-cli', action='store_true', help="skip the timed runs of the petlesson command")
    a = p.parse_args(argv)
    if a.steps < 1 or a.repeats < 1 or a.bs < 1: p.error('--steps, --repeats and --bs must be at least 1')
    if a.threads: torch.set_num_threads(a.threads)
    malloc = f"malloc keeping freed memory (every row): {keep_freed_memory()}" if a.keep_memory else "glibc's default malloc (every row)"
    d_presize, d_size = default_sizes(a.data)
    size = a.size or d_size
    if a.size: SIZES.update(presize=round(a.size * d_presize / d_size), size=a.size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    learners = {name: PIPELINES[name](a.data, a.bs, a.num_workers) for name in a.pipelines}
    bound_learn = pets_learner(pets_dataloaders(a.data, bs=a.bs))   # its own copy of the model: the bound's layout changes nobody's
    for l in [*learners.values(), bound_learn]: l.remove_cb(ProgressCallback)
    n_train = len(next(iter(learners.values())).dls.train_ds)
    print(f"data + learners built in {time.perf_counter()-t:.1f} s; {n_train} training images, bs {a.bs}, {size} px, {malloc}")
    for name, learn in learners.items():
        if getattr(learn.dls, 'image_cache', None) is not None:
            print(f"{name}: first pass over the training items (fills the image cache): {fill_cache(learn.dls.train):.1f} s")
    for frozen in (False, True): model_bound(bound_learn, a.bs, size, 2, frozen)   # warm-up: oneDNN prepares its kernels once per shape and layout
    phases = {'frozen': dict(frozen=True), 'unfrozen': dict(frozen=False), 'inference': dict(frozen=False, train=False)}
    bound = {k: (0., 0.) for k in phases}
    e2e = {(k, n): (0., 0.) for k in phases for n in learners}
    best = lambda old, new: tuple(max(o, n) for o, n in zip(old, new))
    for r in range(a.repeats):   # interleaved, so that a burst of load elsewhere hits the bound and the pipelines alike
        for k, kw in phases.items():
            bound[k] = best(bound[k], model_bound(bound_learn, a.bs, size, a.steps, **kw))
            for n, l in learners.items():
                e2e[k, n] = best(e2e[k, n], inference(l) if k == 'inference' else end_to_end(l, kw['frozen'], a.steps))
    for i, unit in enumerate(['wall second', 'CPU second (all threads)']):
        print(f"\nimages per {unit}")
        print(f"{'phase':<10} {'bound':>8} " + ' '.join(f"{n:>16} {'ratio':>6}" for n in learners))
        for k in phases:
            print(f"{k:<10} {bound[k][i]:>8.1f} " + ' '.join(f"{e2e[k, n][i]:>16.1f} {e2e[k, n][i]/bound[k][i]:>6.0%}" for n in learners))
    first = next(iter(learners))
    for k in phases:
        for n in list(learners)[1:]:
            print(f"{k}: {n} / {first}: {e2e[k, n][1] / e2e[k, first][1]:.2f}x images per CPU second")
    print(f"\nper training batch of {a.bs}: model step (bound) {a.bs/bound['frozen'][0]*1000:.0f} ms frozen, {a.bs/bound['unfrozen'][0]*1000:.0f} ms unfrozen")
    for n, l in learners.items():
        t_items, t_batch = breakdown(l, a.steps)
        print(f"  {n:<16} items + collation {t_items*1000:>5.0f} ms, batch transforms {t_batch*1000:>5.0f} ms")
    if not a.no_cli:
        for fast in ((False, True) if has_fast_switch() else (False,)):
            secs, r = cli_run(a.data, a.threads, fast)
            print(f"\none `petlesson --data {a.data}{' --fast' if fast else ''} --epochs 1` run: {secs:.1f} s (exit {r.returncode})")
            if r.returncode: print(r.stderr[-2000:])
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")

if __name__ == '__main__': main()
