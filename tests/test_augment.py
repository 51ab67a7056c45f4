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

def test_bench_script_rejects_a_non_image(root, tmp_path):
    bad = tmp_path/'notes.jpg'
    bad.write_text('not a picture')
    r = subprocess.run([sys.executable, str(root/'bench'/'presizing.py'), '--images', str(bad), '--draws', '2', '--presize', '160', '--size', '128'],
                       capture_output=True, text=True, timeout=900, env={**os.environ, 'PYTHONPATH': str(root), 'MPLBACKEND': 'Agg'})
    assert r.returncode != 0 and 'is not an image that PIL can read' in r.stderr
