"The presizing benchmark script runs end to end and prints what it promises (a tiny run: a few draws, small batches)."
import os, subprocess, sys

def test_bench_script_prints_every_pipeline(root):
    args = ['--draws', '4', '--bs', '2', '--reps', '1', '--n-sample', '1', '--presize', '160', '--size', '128', '--min-scale', '0.75']
    r = subprocess.run([sys.executable, str(root/'bench'/'presizing.py'), *args], capture_output=True, text=True, timeout=900,
                       env={**os.environ, 'PYTHONPATH': str(root), 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0, r.stderr[-3000:]
    for text in ('presize 160 -> size 128, min_scale=0.75, batch size 2, 4 draws', 'presizing', 'naive', 'fastai min_scale=0.75',
                 'PSNR dB', 'SSIM', 'padding %', 'images/s', "'grid_sample': 2"):
        assert text in r.stdout, f'{text!r} missing from:\n{r.stdout}'
    row = next(l for l in r.stdout.splitlines() if l.startswith('fastai one pass'))   # with a random crop: the one-pass row
    assert row.split()[3] == '1', row   # resamplings
    assert "one_pass_aug_transforms(size, min_scale=0.75) per batch, 192->128: {'grid_sample': 1" in r.stdout, r.stdout

def test_bench_script_rejects_a_non_image(root, tmp_path):
    bad = tmp_path/'notes.jpg'
    bad.write_text('not a picture')
    r = subprocess.run([sys.executable, str(root/'bench'/'presizing.py'), '--images', str(bad), '--draws', '2', '--presize', '160', '--size', '128'],
                       capture_output=True, text=True, timeout=900, env={**os.environ, 'PYTHONPATH': str(root), 'MPLBACKEND': 'Agg'})
    assert r.returncode != 0 and 'is not an image that PIL can read' in r.stderr

def test_image_cache_serves_later_epochs_from_memory():
    "Used as a DataBlock's get_x, the cache opens each file once; later epochs are hits, and the batches keep their shape"
    from fastai.data.block import DataBlock, CategoryBlock
    from fastai.data.transforms import get_image_files, RandomSplitter
    from fastai.vision.data import ImageBlock
    from fastai.vision.augment import Resize
    from petlesson.augment import ImageCache
    from petlesson.data import get_pets, pet_label
    files = [f for f in get_image_files(get_pets('sample')/'images') if pet_label(f) in ('beagle', 'pug', 'Siamese')]   # every breed in both splits
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
    import torch
    from fastai.torch_core import TensorImage
    from fastai.vision.augment import RandomResizedCropGPU
    from petlesson.augment import one_pass_aug_transforms
    tfms = one_pass_aug_transforms(96, min_scale=0.5)
    assert not any(isinstance(t, RandomResizedCropGPU) for t in tfms)
    for split in (0, 1):
        x = TensorImage(torch.rand(4, 3, 150, 150))
        for t in tfms: x = t(x, split_idx=split)
        assert x.shape == (4, 3, 96, 96)

def test_one_pass_quality_bench_prints_both_errors(root):
    "The training comparison runs (one seed, the frozen epoch only) and prints a row per seed and the mean difference"
    r = subprocess.run([sys.executable, str(root/'bench'/'one_pass_quality.py'), '--seeds', '42', '--epochs', '0'], capture_output=True,
                       text=True, timeout=900, env={**os.environ, 'PYTHONPATH': str(root), 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0, r.stderr[-3000:]
    row = next(l for l in r.stdout.splitlines() if l.split()[:1] == ['42'])
    book, one, diff = (float(v) for v in row.split()[1:4])
    assert 0 <= book <= 1 and 0 <= one <= 1 and abs(one - book - diff) < 1e-3, row
    assert 'mean difference (one pass - book)' in r.stdout and 'n/a (one seed)' in r.stdout

def test_fast_tfms_give_fastais_batches_through_a_dataloader():
    "With the same seed, the default (fast) pipeline and fastai's own classes give the same training and validation batches"
    import torch
    from fastai.torch_core import set_seed
    from petlesson.data import pets_dataloaders
    fast, slow = pets_dataloaders('sample', bs=16), pets_dataloaders('sample', bs=16, fast=False)
    for dl_fast, dl_slow, eps in ((fast.train, slow.train, 1e-3), (fast.valid, slow.valid, 0)):
        set_seed(3); xf, yf = next(iter(dl_fast))
        set_seed(3); xs, ys = next(iter(dl_slow))
        assert torch.equal(yf, ys) and xf.shape == xs.shape
        assert (xf - xs).abs().max() <= eps

def test_fast_tfms_at_other_sizes():
    "Non-square output (the grid's axes in the right order), the book's 460 -> 224 where fastai's anti-aliasing shrink fires, lighting off"
    import torch
    from fastai.torch_core import TensorImage, set_seed
    from fastai.vision.augment import aug_transforms
    from petlesson.augment import fast_tfms, one_pass_aug_transforms, FastAffineCoordTfm
    cases = [(aug_transforms(size=(96, 128), min_scale=1.), (64, 3, 150, 170)),
             (one_pass_aug_transforms(224, min_scale=0.75), (4, 3, 460, 460)),
             (aug_transforms(size=224, min_scale=0.75, max_warp=0., max_lighting=0.), (4, 3, 460, 460))]
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

def test_training_bench_prints_ratios_for_both_pipelines(root):
    "A tiny run of bench/training.py: the bound, each pipeline's throughput and ratio, and the per-batch breakdown"
    r = subprocess.run([sys.executable, str(root/'bench'/'training.py'), '--steps', '2', '--repeats', '1', '--no-cli',
                        '--pipelines', 'book', 'petlesson'], capture_output=True, text=True, timeout=900,
                       env={**os.environ, 'PYTHONPATH': str(root), 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [l.split() for l in r.stdout.splitlines() if l.split()[:1] in (['frozen'], ['unfrozen'], ['inference'])]
    assert len(rows) == 6, r.stdout   # three phases, in images per wall second and per CPU second
    for row in rows:
        bound, book, book_ratio, ours, our_ratio = row[1:]
        assert float(bound) > 0 and float(book) > 0 and float(ours) > 0, row
        assert abs(float(ours) / float(bound) - float(our_ratio.rstrip('%')) / 100) < 0.01, row
    for name in ('book', 'petlesson'):
        assert any(l.split()[:1] == [name] and 'batch transforms' in l for l in r.stdout.splitlines()), r.stdout

def test_homography_grid_matches_affine_grid_and_a_direct_projection():
    "An affine matrix gives `F.affine_grid`'s grid in both align_corners conventions; a projective one divides by Z per pixel"
    import torch, torch.nn.functional as F
    from petlesson.augment import homography_grid
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
