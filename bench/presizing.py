"""Benchmark: presizing against naive augmentation, and fastai's default batch step against petlesson.speed's, on this machine.

For each (presize, size, min_scale) setting it prints, for every pipeline measured in the same run and on the
same random draws (lesson 01): fidelity against an anti-aliased full-resolution reference (PSNR, SSIM), the share of
output pixels that came from padding, and speed (item step and batch step per batch, images per second).
Then, per setting (lesson 08), the batch step alone, fastai's default `aug_transforms` against `petlesson.speed`'s
versions of it: `fast_tfms` (the same draws and pixels, less bookkeeping), `one_pass_aug_transforms` (the crop folded
into the affine step: one resampling, other pixels) and both: resamplings per batch and milliseconds per batch.

    python bench/presizing.py                      # sample sizes 192/128 and the book's 460/224
    python bench/presizing.py --draws 512 --bs 64  # more draws, bigger batches
    python bench/presizing.py --images a.jpg b.png --presize 256 --size 160

fastai's rows use fastai's own random draws (same distributions, other values); lighting is off everywhere.
"""
import argparse, os, platform, sys, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore', message='.*torch.jit.script.*deprecated')
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import skimage.data
from petlesson.augment import presize_vs_naive, count_resamplings, load_images
from petlesson.pets import get_pets
from petlesson.speed import fast_tfms, one_pass_aug_transforms
from fastai.data.transforms import get_image_files
from fastai.vision.augment import aug_transforms
from fastai.vision.core import TensorImage

PHOTOS = ('chelsea', 'coffee', 'astronaut', 'rocket')   # bundled with scikit-image, usable offline

def default_images(n_sample):
    imgs = {f'skimage.data.{n}': getattr(skimage.data, n)() for n in PHOTOS}
    files = sorted(get_image_files(get_pets('sample')/'images'))[::37][:n_sample]   # a spread of breeds
    imgs.update({f.name: f for f in files})
    return imgs

def batch_step_ms(tfms, x, reps):
    "Milliseconds (wall) of fastai's batch step `tfms` on `x`, the fastest of `reps` runs after a warm-up run"
    def run():
        t = time.perf_counter(); y = x
        for tfm in tfms: y = tfm(y, split_idx=0)
        if y.is_cuda: torch.cuda.synchronize()
        return (time.perf_counter() - t) * 1000
    run()
    return min(run() for _ in range(reps))

def batch_step_table(presize, size, min_scales, bs, reps, device):
    "fastai's default batch step against petlesson.speed's, per min_scale: resamplings per batch and ms per batch (lighting off)"
    x = TensorImage(torch.rand(bs, 3, presize, presize, device=device))   # the timing does not depend on the pixels
    lines = [f'\n## batch step alone, {presize} -> {size}, batch size {bs}: fastai default against petlesson.speed',
             f"{'min_scale':>9}  {'pipeline':<38} {'resamplings':<36} {'ms/batch':>9} {'speed-up':>8}"]
    for ms in min_scales:
        default = aug_transforms(size=size, min_scale=ms, max_lighting=0.)
        one = one_pass_aug_transforms(size, min_scale=ms, max_lighting=0.)
        pipes = {'fastai default': default, 'petlesson.speed fast_tfms': fast_tfms(default),
                 'petlesson.speed one pass': one, 'petlesson.speed one pass + fast_tfms': fast_tfms(one)}
        base = None
        for name, tfms in pipes.items():
            t = batch_step_ms(tfms, x, reps)
            base = base or t
            lines.append(f"{ms:>9g}  {name:<38} {str(count_resamplings(tfms, presize)):<36} {t:>9.1f} {base / t:>7.2f}x")
    return '\n'.join(lines)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--images', nargs='*', help='image files (default: 4 scikit-image photos + sample pets)')
    p.add_argument('--n-sample', type=int, default=12, help='sample pet images to add to the defaults')
    p.add_argument('--presize', type=int, nargs='*', help='presize(s); with --size, replaces the two default settings')
    p.add_argument('--size', type=int, help='final size')
    p.add_argument('--min-scale', type=float, nargs='*', default=[0.75, 1.0])
    p.add_argument('--draws', type=int, default=96)
    p.add_argument('--bs', type=int, default=32)
    p.add_argument('--reps', type=int, default=5, help='timing repetitions per batch; the fastest counts')
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--no-fastai', action='store_true', help="skip fastai's rows and the batch-step comparison with petlesson.speed")
    a = p.parse_args(argv)
    imgs = {f: f for f in a.images} if a.images else default_images(a.n_sample)
    settings = [(ps, a.size) for ps in a.presize] if a.presize and a.size else [(192, 128), (460, 224)]
    print(f'# presizing benchmark: torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} CPUs visible, {torch.get_num_threads()} torch threads, device {a.device}')
    print(f'# {len(imgs)} images: ' + ', '.join(imgs))
    for presize, size in settings:
        keep = {k: v for k, v in imgs.items() if min(load_images([v], 1)[0].shape[-2:]) >= size}
        dropped = sorted(set(imgs) - set(keep))
        if dropped: print(f'\n# size {size}: skipping {len(dropped)} images smaller than {size}px: {", ".join(dropped)}')
        if not keep: print('# no image is large enough: nothing to measure'); continue
        for ms in a.min_scale:
            t0 = time.perf_counter()
            r = presize_vs_naive(list(keep.values()), presize, size, n_draws=a.draws, bs=a.bs, seed=a.seed, min_scale=ms,
                                 fastai=not a.no_fastai, reps=a.reps, device=a.device)
            print(f'\n## presize {presize} -> size {size}, min_scale={ms:g}, batch size {a.bs}, {a.draws} draws over '
                  f'{len(keep)} images ({time.perf_counter() - t0:.0f}s)')
            print(r)
            pre, nai = r.summary.loc['presizing'], r.summary.loc['naive']
            print(f'presizing - naive: {pre["PSNR dB"] - nai["PSNR dB"]:+.2f} dB PSNR, {pre["SSIM"] - nai["SSIM"]:+.3f} SSIM, '
                  f'{pre["padding %"] - nai["padding %"]:+.2f} points of padding, speed x{pre["images/s"] / nai["images/s"]:.2f}')
        if not a.no_fastai: print(batch_step_table(presize, size, a.min_scale, a.bs, a.reps, a.device))

if __name__ == '__main__':
    try: main()
    except (ValueError, FileNotFoundError, IsADirectoryError) as e: sys.exit(f'presizing benchmark: {e}')
