"""Benchmark: presizing versus naive augmentation (and fastai's own `aug_transforms`, and petlesson's one-pass
version of it), on this machine.

For each (presize, size, min_scale) setting it prints, for every pipeline measured in the same run and on the
same random draws: fidelity against an anti-aliased full-resolution reference (PSNR, SSIM), the share of output
pixels that came from padding, and speed (item step and batch step per batch, images per second).

    python bench/presizing.py                      # sample sizes 192/128 and the book's 460/224
    python bench/presizing.py --draws 512 --bs 64  # more draws, bigger batches
    python bench/presizing.py --images a.jpg b.png --presize 256 --size 160

fastai's rows use fastai's own random draws (same distributions, other values); lighting is off everywhere.
With a random crop (min_scale < 1) there is also a 'fastai one pass' row: `one_pass_aug_transforms`, the crop
folded into fastai's affine step.
"""
import argparse, os, platform, sys, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore', message='.*torch.jit.script.*deprecated')
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import skimage.data
from petlesson.augment import presize_vs_naive, count_resamplings, fastai_batch_tfms, load_images
from petlesson.speed import one_pass_aug_transforms   # lesson 08's one-pass batch step, measured as an extra row
from petlesson.data import get_pets
from fastai.data.transforms import get_image_files

PHOTOS = ('chelsea', 'coffee', 'astronaut', 'rocket')   # bundled with scikit-image, usable offline

def default_images(n_sample):
    imgs = {f'skimage.data.{n}': getattr(skimage.data, n)() for n in PHOTOS}
    files = sorted(get_image_files(get_pets('sample')/'images'))[::37][:n_sample]   # a spread of breeds
    imgs.update({f.name: f for f in files})
    return imgs

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
    p.add_argument('--no-fastai', action='store_true')
    a = p.parse_args(argv)
    imgs = {f: f for f in a.images} if a.images else default_images(a.n_sample)
    settings = [(ps, a.size) for ps in a.presize] if a.presize and a.size else [(192, 128), (460, 224)]
    print(f'# presizing benchmark: torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} CPUs visible, {torch.get_num_threads()} torch threads, device {a.device}')
    print(f'# {len(imgs)} images: ' + ', '.join(imgs))
    for ms in a.min_scale:
        print(f'# fastai aug_transforms(size, min_scale={ms:g}) per batch, 192->128: {count_resamplings(fastai_batch_tfms(128, ms), 192)}; '
              f'460->224: {count_resamplings(fastai_batch_tfms(224, ms), 460)}')
        if ms < 1 and not a.no_fastai:
            print(f'# petlesson one_pass_aug_transforms(size, min_scale={ms:g}) per batch, 192->128: '
                  f'{count_resamplings(fastai_batch_tfms(128, ms, aug=one_pass_aug_transforms), 192)}; '
                  f'460->224: {count_resamplings(fastai_batch_tfms(224, ms, aug=one_pass_aug_transforms), 460)}')
    for presize, size in settings:
        keep = {k: v for k, v in imgs.items() if min(load_images([v], 1)[0].shape[-2:]) >= size}
        dropped = sorted(set(imgs) - set(keep))
        if dropped: print(f'\n# size {size}: skipping {len(dropped)} images smaller than {size}px: {", ".join(dropped)}')
        if not keep: print('# no image is large enough: nothing to measure'); continue
        for ms in a.min_scale:
            t0 = time.perf_counter()
            r = presize_vs_naive(list(keep.values()), presize, size, n_draws=a.draws, bs=a.bs, seed=a.seed, min_scale=ms,
                                 fastai=not a.no_fastai, reps=a.reps, device=a.device,
                                 extra_augs={'fastai one pass': one_pass_aug_transforms} if ms < 1 and not a.no_fastai else None)
            print(f'\n## presize {presize} -> size {size}, min_scale={ms:g}, batch size {a.bs}, {a.draws} draws over '
                  f'{len(keep)} images ({time.perf_counter() - t0:.0f}s)')
            print(r)
            pre, nai = r.summary.loc['presizing'], r.summary.loc['naive']
            print(f'presizing - naive: {pre["PSNR dB"] - nai["PSNR dB"]:+.2f} dB PSNR, {pre["SSIM"] - nai["SSIM"]:+.3f} SSIM, '
                  f'{pre["padding %"] - nai["padding %"]:+.2f} points of padding, speed x{pre["images/s"] / nai["images/s"]:.2f}')

if __name__ == '__main__':
    try: main()
    except (ValueError, FileNotFoundError, IsADirectoryError) as e: sys.exit(f'presizing benchmark: {e}')
