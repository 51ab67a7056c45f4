"""petlesson.speed (lesson 08): the opt-in CPU speed-ups, the benchmarks that compare them with fastai's defaults, and the
promise that nothing on the default path (petlesson.pets, petlesson.models, `pets_learner`) uses them or changes the
process."""
import os, subprocess, sys, textwrap
from types import SimpleNamespace
import pytest, torch
from fastai.callback.core import Callback, CancelFitException

def _run(root, script, *args, timeout=900):
    return subprocess.run([sys.executable, str(root/'bench'/script), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, 'PYTHONPATH': str(root), 'MPLBACKEND': 'Agg', 'PETLESSON_DATA': 'synthetic'})

# ---- nothing on the default path

def test_default_path_changes_nothing_process_wide(root):
    "Importing petlesson.pets and petlesson.models and building a pets_learner: no mallopt, fastai's Adam, no channels last, no speed module, no warning filter or thread count left behind"
    code = textwrap.dedent("""
        import ctypes, sys
        looked_up = []
        real = ctypes.CDLL.__getattr__
        def spy(self, name):   # every C function looked up through ctypes, mallopt included
            looked_up.append(name); return real(self, name)
        ctypes.CDLL.__getattr__ = spy
        import torch, warnings
        filters, threads = list(warnings.filters), torch.get_num_threads()
        from fastai.optimizer import Adam
        from petlesson.pets import pets_dataloaders
        from petlesson.models import pets_learner, small_data_learner
        dls = pets_dataloaders('synthetic', bs=4)
        for make in (pets_learner, small_data_learner):
            learn = make(dls, pretrained=False)
            assert learn.opt_func is Adam, learn.opt_func
            assert not any(type(cb).__name__ == 'ChannelsLastInputs' for cb in learn.cbs), learn.cbs
            assert all(p.is_contiguous() for p in learn.model.parameters())   # nothing converted to channels last
        names = [type(t).__name__ for t in dls.train.after_item.fs] + [type(t).__name__ for t in dls.train.after_batch.fs]
        assert not any(n.startswith('Fast') or n == 'AffineCrop' for n in names), names
        assert str(dls.train.dataset.tls[0].tfms) == 'Pipeline: PetImage.create', dls.train.dataset.tls[0].tfms
        assert 'mallopt' not in looked_up, looked_up
        assert 'petlesson.speed' not in sys.modules
        jit = '`torch.jit.script` is deprecated. Please switch to `torch.compile` or `torch.export`.'   # what fastai.layers triggers as it loads
        added = [f for f in warnings.filters if f not in filters]   # other libraries (numpy, sympy) add their own
        assert not [f for f in added if f[1] is not None and f[1].match(jit)], added   # petlesson hides it only while fastai loads
        assert torch.get_num_threads() == threads
        print('ok')
    """)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600,
                       env={**os.environ, 'PYTHONPATH': str(root), 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0 and r.stdout.strip().endswith('ok'), r.stderr[-3000:]

def test_the_spy_would_see_mallopt(root):
    "The check above can fail: keep_freed_memory looks mallopt up through ctypes, where the spy sees it"
    code = textwrap.dedent("""
        import ctypes, platform
        looked_up = []
        real = ctypes.CDLL.__getattr__
        ctypes.CDLL.__getattr__ = lambda self, name: looked_up.append(name) or real(self, name)
        from petlesson.speed import keep_freed_memory
        assert keep_freed_memory() == (platform.libc_ver()[0] == 'glibc')
        assert ('mallopt' in looked_up) == (platform.libc_ver()[0] == 'glibc'), looked_up
    """)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600, env={**os.environ, 'PYTHONPATH': str(root)})
    assert r.returncode == 0, r.stderr[-3000:]

def test_only_cli_and_lesson_08_may_import_speed(root):
    "The module chain follows the lessons: no module but speed itself (and the command, for --fast) imports petlesson.speed"
    for py in sorted((root/'petlesson').glob('*.py')):
        if py.name in ('speed.py', 'command.py', '_modidx.py'): continue
        assert 'speed import' not in py.read_text() and 'import speed' not in py.read_text(), py.name

# ---- speed_up and friends

class StopAfterTwo(Callback):
    "Stop fitting after two training batches"
    def after_batch(self):
        if self.iter >= 1: raise CancelFitException()

@pytest.fixture(scope='module')
def dls():
    from petlesson.pets import pets_dataloaders
    return pets_dataloaders('synthetic', bs=8)

def test_speed_up_swaps_the_optimiser_keeps_freezing_and_asks_for_the_allocator_only_when_told(dls, monkeypatch):
    import petlesson.speed as S
    from fastai.optimizer import Adam, SGD
    from petlesson.models import pets_learner
    calls = []
    monkeypatch.setattr(S, 'keep_freed_memory', lambda *a: calls.append(a) or True)
    plain = pets_learner(dls, pretrained=False)
    plain.freeze()   # as vision_learner does with pretrained weights: it makes fastai's optimiser
    frozen = [p.requires_grad for p in plain.model.parameters()]
    assert plain.opt_func is Adam and plain.opt is not None
    learn = S.speed_up(plain, data=False, keep_memory=False)
    assert calls == [] and learn is plain
    assert learn.opt_func is S.FusedAdam and isinstance(learn.opt, S.FusedAdam)
    assert [p.requires_grad for p in learn.model.parameters()] == frozen and learn.opt.frozen_idx == len(learn.opt.param_lists) - 1
    assert sum(isinstance(cb, S.ChannelsLastInputs) for cb in learn.cbs) == 1
    S.speed_up(learn, data=False)   # a second call adds nothing, and this time asks for the allocator switch
    assert calls == [()] and sum(isinstance(cb, S.ChannelsLastInputs) for cb in learn.cbs) == 1
    other = S.speed_up(pets_learner(dls, pretrained=False, opt_func=SGD), data=False, keep_memory=False)
    assert other.opt_func is SGD   # another optimiser is the caller's choice

def test_speed_up_refuses_to_drop_momentum_and_trains(dls):
    from petlesson.models import pets_learner
    from petlesson.speed import speed_up, FusedAdam
    learn = pets_learner(dls, pretrained=False)
    learn.create_opt()
    for p in learn.model.parameters(): p.grad = torch.zeros_like(p) if p.requires_grad else None
    learn.opt.step()   # fastai's Adam now holds running averages
    with pytest.raises(ValueError, match='before the first fit'): speed_up(learn, keep_memory=False)
    fresh = speed_up(pets_learner(dls, pretrained=False), keep_memory=False)
    with fresh.no_bar(), fresh.no_logging(): fresh.fit(1, 1e-3, cbs=[StopAfterTwo()])
    assert isinstance(fresh.opt, FusedAdam)
    assert next(fresh.model.parameters()).is_contiguous(memory_format=torch.channels_last)   # ChannelsLastInputs converted the model

def test_speed_up_dataloaders_in_place_and_its_errors():
    from fastcore.foundation import L
    from fastai.vision.augment import RandomResizedCropGPU
    from petlesson.pets import pets_dataloaders
    from petlesson.speed import speed_up_dataloaders, fast_dataloaders, ImageCache
    dls = pets_dataloaders('synthetic', bs=4)
    assert speed_up_dataloaders(dls, one_pass=True) is dls
    names = [type(t).__name__ for t in dls.train.after_batch.fs]
    assert names == ['IntToFloatTensor', 'FastAffineCoordTfm', 'Brightness'], names
    assert isinstance(dls.image_cache, ImageCache) and dls.image_cache.presize == 192
    for dl in dls.loaders:   # one cache for both sets, put in once
        assert sum(getattr(t, 'image_cache', None) is dls.image_cache for t in dl.dataset.tls[0].tfms.fs) == 1
        assert dl.one_batch()[0].shape == (4, 3, 128, 128)
    speed_up_dataloaders(dls)
    assert sum(getattr(t, 'image_cache', None) is not None for t in dls.train.dataset.tls[0].tfms.fs) == 1
    plain = fast_dataloaders('synthetic', bs=4, cache_mb=0)
    assert plain.image_cache is None and str(plain.train.dataset.tls[0].tfms) == 'Pipeline: PetImage.create'
    assert any(isinstance(t, RandomResizedCropGPU) for t in plain.train.after_batch.fs)   # one_pass=False: fastai's two steps, computed fast
    no_resize = SimpleNamespace(train=SimpleNamespace(after_item=SimpleNamespace(fs=L())))
    with pytest.raises(ValueError, match='no Resize among their item transforms'): speed_up_dataloaders(no_resize)

def test_fast_dataloaders_give_fastais_batches():
    "With the same seed (and no cache, whose items differ by a fraction of a pixel), the batches are fastai's up to float rounding"
    from fastai.torch_core import set_seed
    from petlesson.pets import pets_dataloaders
    from petlesson.speed import fast_dataloaders
    fast, slow = fast_dataloaders('synthetic', bs=8, cache_mb=0), pets_dataloaders('synthetic', bs=8)
    for dl_fast, dl_slow, eps in ((fast.train, slow.train, 1e-3), (fast.valid, slow.valid, 0)):
        set_seed(3); xf, yf = next(iter(dl_fast))
        set_seed(3); xs, ys = next(iter(dl_slow))
        assert torch.equal(yf, ys) and xf.shape == xs.shape
        assert (xf - xs).abs().max() <= eps

# ---- the pieces (moved from the tests of lessons 01 and 02)

def test_image_cache_serves_later_epochs_from_memory():
    "Used as a DataBlock's get_x, the cache opens each file once; later epochs are hits, and the batches keep their shape"
    from fastai.data.block import DataBlock, CategoryBlock
    from fastai.data.transforms import get_image_files, RandomSplitter
    from fastai.vision.data import ImageBlock
    from fastai.vision.augment import Resize
    from petlesson.speed import ImageCache
    from petlesson.photos import pet_label
    from petlesson.pets import get_pets
    files = [f for f in get_image_files(get_pets('synthetic')/'images') if pet_label(f) in ('beagle', 'pug', 'Siamese')]
    cache = ImageCache(64)
    dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_x=cache, get_y=pet_label, item_tfms=Resize(64),
                    splitter=RandomSplitter(seed=0)).dataloaders(files, bs=8, num_workers=0)
    opened = cache.misses
    xb, _ = next(iter(dls.train))
    assert xb.shape[1:] == (3, 64, 64)
    for _ in range(2): list(dls.train); list(dls.valid)
    assert cache.misses == len(cache.images) == len(files) >= opened   # every file opened exactly once
    assert cache.hits >= len(dls.train_ds) + len(dls.valid_ds)
    assert all(min(a.shape[:2]) == 64 for _, a in cache.images.values())   # kept at the presize, not at full size

def test_one_pass_transforms_keep_training_and_validation_sizes():
    "The one-pass batch step gives the final size in both splits and has no RandomResizedCropGPU"
    from fastai.torch_core import TensorImage
    from fastai.vision.augment import RandomResizedCropGPU
    from petlesson.speed import one_pass_aug_transforms
    tfms = one_pass_aug_transforms(96, min_scale=0.5)
    assert not any(isinstance(t, RandomResizedCropGPU) for t in tfms)
    for split in (0, 1):
        x = TensorImage(torch.rand(4, 3, 150, 150))
        for t in tfms: x = t(x, split_idx=split)
        assert x.shape == (4, 3, 96, 96)

def test_one_pass_tfms_reads_one_window_of_the_affine_output():
    "Flip only (always), crop folded in: the output reads a square window of the flipped image, as the two-step pipeline would"
    from fastai.vision.augment import Flip, RandomResizedCropGPU
    from petlesson.augment import identity_grid, run_fastai_tfms
    from petlesson.speed import one_pass_tfms
    S = 64
    tfms = one_pass_tfms([Flip(p=1.), RandomResizedCropGPU(32, min_scale=0.5, ratio=(1, 1))])
    assert len(tfms) == 1 and tfms[0].size == (32, 32)
    coords = run_fastai_tfms(tfms, identity_grid(16, S, S).permute(0, 3, 1, 2).contiguous(), seed=0)
    x = coords[:, 0]
    assert (x[:, :, 1:] < x[:, :, :-1]).all()   # flipped: x decreases from left to right, in every image
    side = (x[:, :, 0] - x[:, :, -1]).mean(1) * S / (S - 1) / 2   # the window's side as a share of the image's
    assert ((side ** 2 > 0.5 - 0.02) & (side ** 2 <= 1 + 1e-4)).all()

def test_fast_tfms_at_other_sizes():
    "Non-square output (the grid's axes in the right order), the book's 460 -> 224 where fastai's anti-aliasing shrink fires, lighting off"
    from fastai.torch_core import TensorImage, set_seed
    from fastai.vision.augment import aug_transforms
    from petlesson.speed import fast_tfms, one_pass_aug_transforms, FastAffineCoordTfm
    cases = [(aug_transforms(size=(96, 128), min_scale=1.), (16, 3, 150, 170)),
             (one_pass_aug_transforms(224, min_scale=0.75), (2, 3, 460, 460)),
             (aug_transforms(size=224, min_scale=0.75, max_warp=0., max_lighting=0.), (2, 3, 460, 460))]
    for tfms, shape in cases:
        fast = fast_tfms(tfms)
        assert any(type(t) is FastAffineCoordTfm for t in fast)
        x = TensorImage(torch.rand(*shape))
        for seed in range(3):
            outs = []
            for pipeline in (tfms, fast):
                set_seed(seed); y = x
                for t in pipeline: y = t(y, split_idx=0)
                outs.append(y)
            assert outs[0].shape == outs[1].shape and (outs[0] - outs[1]).abs().max() < 1e-4, (shape, seed)

def test_homography_grid_matches_affine_grid_and_a_direct_projection():
    "An affine matrix gives `F.affine_grid`'s grid in both align_corners conventions; a projective one divides by Z per pixel"
    import torch.nn.functional as F
    from petlesson.speed import homography_grid
    torch.manual_seed(0)
    h = torch.eye(3).repeat(4, 1, 1); h[:, :2] += 0.2 * torch.randn(4, 2, 3)
    for align in (True, False):
        ref = F.affine_grid(h[:, :2], (4, 1, 5, 7), align_corners=align)
        assert torch.allclose(homography_grid(h, (5, 7), align), ref, atol=1e-6)
    h[:, 2, :2] = 0.1 * torch.randn(4, 2)   # now projective: check one pixel by hand
    g = homography_grid(h, (5, 7), True)
    x, y = torch.linspace(-1, 1, 7)[3], torch.linspace(-1, 1, 5)[1]
    X, Y, Z = h[2] @ torch.stack([x, y, torch.tensor(1.)])
    assert torch.allclose(g[2, 1, 3], torch.stack([X / Z, Y / Z]), atol=1e-6)

def test_channels_last_inputs_converts_image_batches_only():
    from petlesson.speed import ChannelsLastInputs
    cb = ChannelsLastInputs()
    cb.learn = SimpleNamespace(xb=(torch.randn(2, 3, 8, 8),), model=torch.nn.Conv2d(3, 4, 3))
    cb.before_fit(); cb.before_batch()
    assert cb.learn.xb[0].is_contiguous(memory_format=torch.channels_last)
    assert cb.learn.model.weight.is_contiguous(memory_format=torch.channels_last)
    flat = torch.randn(2, 5)
    cb.learn.xb = (flat,); cb.before_batch()
    assert cb.learn.xb[0] is flat

def test_fused_adam_matches_fastai_adam_on_a_small_model():
    "FusedAdam takes the same steps as fastai's Adam, weight decay and per-parameter do_wd=False included"
    from fastai.optimizer import Adam
    from petlesson.speed import FusedAdam
    for fused in (True, False):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3))
        twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3))
        twin.load_state_dict(net.state_dict())
        groups = lambda m: [list(m[:2].parameters()), list(m[2].parameters())]
        a, b = Adam(groups(net), lr=1e-2, wd=0.1), FusedAdam(groups(twin), lr=1e-2, wd=0.1, fused=fused)
        for o, m in ((a, net), (b, twin)): o.state[m[1].weight]['do_wd'] = False
        for step in range(5):   # the same gradients for both (recomputing them would let rounding grow through batch norm)
            for p, q in zip(net.parameters(), twin.parameters()): p.grad = torch.randn_like(p); q.grad = p.grad.clone()
            a.set_hyper('lr', [1e-3, 1e-2][step % 2]); b.set_hyper('lr', [1e-3, 1e-2][step % 2])
            a.step(); b.step()
        for p, q in zip(net.parameters(), twin.parameters()): assert torch.allclose(p, q, atol=1e-6), (fused, p - q)
        assert not torch.equal(net[1].weight, torch.ones(8))   # the steps did move the weights (batch norm starts at 1)

@pytest.mark.parametrize('fused', [True, False])
def test_fused_adam_with_weights_gradients_and_moments_laid_out_differently(fused):
    "Channels last changes a weight's layout: a gradient or running averages in the other layout must not scramble the step"
    from fastai.optimizer import Adam
    from petlesson.speed import FusedAdam
    for grad_fmt in (torch.contiguous_format, torch.channels_last):
        torch.manual_seed(0)
        p = torch.randn(8, 3, 5, 5, requires_grad=True); q = p.detach().clone().requires_grad_()
        a, b = Adam([p], lr=1e-2), FusedAdam([q], lr=1e-2, fused=fused)
        for i in range(4):
            if i == 2: q.data = q.data.contiguous(memory_format=torch.channels_last)   # after the running averages exist
            g = torch.randn(8, 3, 5, 5)
            p.grad, q.grad = g.clone(), g.clone().contiguous(memory_format=grad_fmt)
            a.step(); b.step()
        assert torch.allclose(p, q, atol=1e-6), (fused, grad_fmt, (p - q).abs().max())

def test_fused_adam_drops_gradients_and_trains_a_learner():
    "zero_grad leaves no gradient tensors; a short fit through fastai's loop still lowers the loss"
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from petlesson.speed import FusedAdam
    torch.manual_seed(0)
    x = torch.randn(256, 4); y = (x[:, 0] > 0).long()
    ds = list(zip(x, y))
    dls = DataLoaders.from_dsets(ds[:192], ds[192:], bs=32)
    learn = Learner(dls, torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)),
                    loss_func=torch.nn.functional.cross_entropy, opt_func=FusedAdam)
    before = learn.validate()[0]
    with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-2)
    assert learn.validate()[0] < before
    assert isinstance(learn.opt, FusedAdam) and all(p.grad is None for p in learn.model.parameters())

def test_keep_freed_memory_removes_the_page_faults_of_the_main_thread(root):
    "Freeing and allocating 100 MB five times: page faults every time with glibc's defaults, none after the switch"
    code = textwrap.dedent("""
        import platform, resource, torch
        from petlesson.speed import keep_freed_memory
        def faults():
            def work():
                for _ in range(5): x = torch.ones(25_000_000); del x   # 100 MB, freed before the next
            work(); f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt; work()
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f
        before = faults()
        if keep_freed_memory(): after = faults(); assert after < before / 10, (before, after)
        else: assert platform.libc_ver()[0] != 'glibc'
    """)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600, env={**os.environ, 'PYTHONPATH': str(root)})
    assert r.returncode == 0, r.stderr[-3000:]

def test_keep_freed_memory_switches_glibc_and_rejects_what_mallopt_cannot_hold():
    import platform
    from petlesson.speed import keep_freed_memory
    assert keep_freed_memory() == (platform.libc_ver()[0] == 'glibc')
    with pytest.raises(ValueError, match='trim_mb must be between 0 and 2047'): keep_freed_memory(2048)

# ---- the benchmarks (tiny runs)

def test_presizing_bench_prints_every_pipeline(root):
    r = _run(root, 'presizing.py', '--draws', '4', '--bs', '2', '--reps', '1', '--n-sample', '1', '--presize', '160', '--size', '128',
             '--min-scale', '0.75')
    assert r.returncode == 0, r.stderr[-3000:]
    for text in ('presize 160 -> size 128, min_scale=0.75, batch size 2, 4 draws', 'presizing', 'naive', 'fastai min_scale=0.75',
                 'PSNR dB', 'SSIM', 'padding %', 'images/s', 'fastai default against petlesson.speed'):
        assert text in r.stdout, f'{text!r} missing from:\n{r.stdout}'
    rows = {l.split('{')[0].split(None, 1)[1].strip(): l for l in r.stdout.splitlines() if l.strip().startswith('0.75 ') and '{' in l}
    assert set(rows) == {'fastai default', 'petlesson.speed fast_tfms', 'petlesson.speed one pass', 'petlesson.speed one pass + fast_tfms'}, rows
    assert "'grid_sample': 2" in rows['fastai default'] and "'grid_sample': 2" in rows['petlesson.speed fast_tfms']
    assert "'grid_sample': 1" in rows['petlesson.speed one pass'] and rows['fastai default'].rstrip().endswith('1.00x')

def test_presizing_bench_rejects_a_non_image(root, tmp_path):
    bad = tmp_path/'notes.jpg'
    bad.write_text('not a picture')
    r = _run(root, 'presizing.py', '--images', str(bad), '--draws', '2', '--presize', '160', '--size', '128')
    assert r.returncode != 0 and 'is not an image that PIL can read' in r.stderr

def test_one_pass_quality_bench_prints_both_errors(root):
    "The training comparison runs (one seed, the frozen epoch only, small batches) and prints a row per seed and the mean difference"
    r = _run(root, 'one_pass_quality.py', '--seeds', '42', '--epochs', '0', '--bs', '64', '--size', '64')
    assert r.returncode == 0, r.stderr[-3000:]
    row = next(l for l in r.stdout.splitlines() if l.split()[:1] == ['42'])
    two, one, diff = (float(v) for v in row.split()[1:4])
    assert 0 <= two <= 1 and 0 <= one <= 1 and abs(one - two - diff) < 1e-3, row
    assert 'mean difference (one pass - fastai default)' in r.stdout and 'n/a (one seed)' in r.stdout

def test_training_bench_prints_ratios_for_both_pipelines(root):
    "A tiny run of bench/training.py: the bound, each pipeline's throughput and ratio, and the per-batch breakdown"
    r = _run(root, 'training.py', '--data', 'synthetic', '--size', '64', '--steps', '2', '--repeats', '1', '--no-cli',
             '--pipelines', 'fastai-default', 'petlesson.speed')
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [l.split() for l in r.stdout.splitlines() if l.split()[:1] in (['frozen'], ['unfrozen'], ['inference'])]
    assert len(rows) == 6, r.stdout   # three phases, in images per wall second and per CPU second
    for row in rows:
        bound, default, default_ratio, fast, fast_ratio = row[1:]
        assert float(bound) > 0 and float(default) > 0 and float(fast) > 0, row
        assert abs(float(fast) / float(bound) - float(fast_ratio.rstrip('%')) / 100) < 0.01, row
    assert "glibc's default malloc (every row)" in r.stdout and '64 px' in r.stdout
    for name in ('fastai-default', 'petlesson.speed'):
        assert any(l.split()[:1] == [name] and 'batch transforms' in l for l in r.stdout.splitlines()), r.stdout
    assert 'petlesson.speed / fastai-default' in r.stdout
