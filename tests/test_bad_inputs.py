"""Bad inputs, one row each: what a learner may hand the `petlesson` command or the library, and the one sentence (never a
traceback, never a silent wrong result) that must come back. Every case runs on tiny images generated in `tmp_path`.

The command runs in-process (`main`), which is much faster than a subprocess; argparse's refusals surface as `SystemExit(2)`."""
import json, os, signal, tempfile, warnings
from contextlib import contextmanager
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
import petlesson.command as cli, petlesson.photos as pl_photos, petlesson.pets as pl_pets, petlesson.synthetic as pl_synthetic, petlesson.models as pl_models, petlesson.training as pl_training
from petlesson.command import main, explain_error, StopOnNonFiniteLoss, NonFiniteLossError
from petlesson.photos import check_images, load_pet_image, PetImage, writable_folder, CACHE_ENV
from petlesson.lr import LRCurve, suggest_lrs, suggest_slide
from petlesson.losses import fit_temperature

ROOT_USER = hasattr(os, 'geteuid') and os.geteuid() == 0   # root writes through any permission bits

# ---------------------------------------------------------------- folders
def photos(root:Path, names, size=(24, 16))->Path:
    "A dataset root whose images/ holds small random images named `names`"
    (root/'images').mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(names))
    for n in names: Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(root/'images'/n)
    return root

def breeds(root, counts={'beagle': 8, 'pug': 8}, **kw):
    return photos(root, [f'{b}_{i}.jpg' for b, n in counts.items() for i in range(1, n+1)], **kw)

def rotated_photo(path:Path, orientation=6):
    "A 40x20 JPEG with a red band along its top, and an EXIF tag saying it must be turned to be seen upright"
    a = np.zeros((20, 40, 3), np.uint8); a[:4] = (255, 0, 0)
    exif = Image.new('RGB', (1, 1)).getexif(); exif[0x0112] = orientation
    Image.fromarray(a).save(path, exif=exif.tobytes(), quality=95)

def deep_photo(path:Path):
    "A 16-bit grey PNG (PIL mode I;16) with values from 0 to 65,520"
    Image.fromarray((np.arange(64*64).reshape(64, 64) * 16).astype(np.uint16)).save(path)
    return (np.arange(64*64).reshape(64, 64) * 16)

# ---------------------------------------------------------------- running the command
@pytest.fixture
def run(capsys, monkeypatch, tmp_path):
    "Run `main(args)` in-process; return (exit status, stdout, stderr). The cache is a fresh folder unless the test sets its own."
    monkeypatch.setenv(CACHE_ENV, os.environ.get(CACHE_ENV) or str(tmp_path/'cache'))
    threads = torch.get_num_threads()
    def _run(*args):
        try: code = main([str(a) for a in args])
        except SystemExit as e: code = e.code
        out, err = capsys.readouterr()
        return code, out, err
    yield _run
    torch.set_num_threads(threads)

TRAIN = ('--size', 32, '--epochs', 1, '--bs', 4, '--threads', 1)   # the smallest real training, for the cases that need one

@contextmanager
def within(seconds:float):
    "Fail instead of hanging when the block runs longer than `seconds` (Unix)"
    def expire(*_): raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try: yield
    finally: signal.setitimer(signal.ITIMER_REAL, 0); signal.signal(signal.SIGALRM, old)

# ---------------------------------------------------------------- the table: (case, how to build it, expected exit status, phrases in stderr, phrases in stdout)
def _file(t): (t/'pets.txt').write_text('not a folder'); return ['--data', t/'pets.txt', '--check-only']
def _corrupt(t): r = breeds(t/'d'); (r/'images'/'pug_99.jpg').write_bytes(b''); return ['--data', r, '--check-only']
def _not_image(t): r = breeds(t/'d'); (r/'images'/'README.txt').write_text('hello'); return ['--data', r, '--check-only']
def _camera(t): return ['--data', photos(t/'d', [f'IMG_{i:04d}.jpg' for i in range(1, 13)]), '--check-only']
def _camera_train(t): return ['--data', photos(t/'d', [f'IMG_{i:04d}.jpg' for i in range(1, 13)]), '--out', t/'out', *TRAIN]
def _one_breed(t): return ['--data', breeds(t/'d', {'holiday': 10}), '--out', t/'out', *TRAIN]
def _lone_photo(t): return ['--data', breeds(t/'d', {'beagle': 8, 'pug': 8, 'boxer': 1}), '--check-only']
def seed_dropping(root:Path, breed:str)->int:
    "The first seed whose `RandomSplitter(0.2)` puts every photo of `breed` in validation, found with fastai alone"
    from fastai.data.transforms import get_image_files, RandomSplitter
    items = get_image_files(root/'images')   # in the folder's own listing order, as the DataBlock sees them
    for seed in range(1000):
        train, _ = RandomSplitter(0.2, seed=seed)(items)
        if not any(pl_photos.pet_label(items[i]) == breed for i in train): return seed

def _all_in_valid(t, *rest):
    r = breeds(t/'d', {'beagle': 10, 'pug': 10, 'boxer': 2})
    return ['--data', r, '--seed', seed_dropping(r, 'boxer'), *(rest or ('--out', t/'out', *TRAIN))]
def _all_in_valid_check(t): return _all_in_valid(t, '--check-only')
def _rotated(t): r = breeds(t/'d'); rotated_photo(r/'images'/'pug_9.jpg'); return ['--data', r, '--check-only']
def _deep(t): r = breeds(t/'d'); deep_photo(r/'images'/'pug_9.png'); return ['--data', r, '--check-only']
def _loop(t): r = breeds(t/'d'); os.symlink('.', r/'images'/'backup'); return ['--data', r, '--out', t/'out', *TRAIN]
def _out_is_file(t): (t/'out').write_text('a file'); return ['--data', breeds(t/'d'), '--out', t/'out', *TRAIN]
def _out_under_file(t): (t/'f').write_text('a file'); return ['--data', breeds(t/'d'), '--out', t/'f'/'run', *TRAIN]
def _threads(t): return ['--threads', 100_000, *_checked(t)]
def _unread(t):
    r = breeds(t/'d'); Image.new('RGB', (24, 16)).save(r/'images'/'pug_9.webp'); (r/'images'/'pug_10.heic').write_bytes(b'\0\0\0\x18ftypheic')
    return ['--data', r, '--check-only']
def _case_clash(t): return ['--data', breeds(t/'d', {'beagle': 8, 'Beagle': 8, 'pug': 8}), '--check-only']
def _unicode_clash(t): return ['--data', breeds(t/'d', {'Caf\xe9': 8, 'Cafe\u0301': 8}), '--check-only']
def _checked(t): return ['--data', breeds(t/'opts'), '--check-only']   # option rows: a good folder, and no training whatever the option

CASES = [   # already handled before issue 18: kept here so that they stay handled
    ('missing folder', lambda t: ['--data', t/'nowhere', '--check-only'], 1, ['No such folder'], []),
    ('file, not a folder', _file, 1, ['is a file'], []),
    ('folder not in the Oxford layout', lambda t: ['--data', t, '--check-only'], 1, ['not in the Oxford-IIIT Pet layout'], []),
    ('not an image among the photos', _not_image, 0, [], ['not images (skipped by get_image_files): 1', 'no problems']),
    ('batch of 0', lambda t: ['--bs', 0, *_checked(t)], 2, ['must be positive'], []),
    ('learning rate not a number', lambda t: ['--lr', 'fast', *_checked(t)], 2, ['expected a float'], []),
    ('unknown backbone', lambda t: ['--backbone', 'vgg16', *_checked(t)], 2, ['invalid choice'], []),
    ('negative epochs', lambda t: ['--epochs', -1, *_checked(t)], 2, ['must be between 0 and 100'], []),
    # issue 18, point 2: what cannot train meaningfully is refused before training
    ('corrupt image: check exits 1', _corrupt, 1, ['cannot be decoded', "'pug_99.jpg'"], ['PROBLEMS FOUND']),
    ('camera names: check', _camera, 1, ["'IMG': a camera's file prefix", '12 image name(s) give no breed', "'<breed>_<number>.jpg'",
                                        r'^(.+)_\d+\.(?:jpe?g|png)$', 'at least two breeds'], []),
    ('camera names: no training', _camera_train, 1, ["camera's file prefix"], []),
    ('one breed: no training', _one_breed, 1, ["only one breed ('holiday')"], []),
    ('breed with one photo', _lone_photo, 1, ["fewer than 2 photos ('boxer')"], []),
    ('breed wholly in validation: check', _all_in_valid_check, 1, ["every photo of 'boxer' falls in the 20% validation split"], []),
    ('breed wholly in validation: no training', _all_in_valid, 1, ["every photo of 'boxer' falls in the 20% validation split"], []),
    ('photo stored on its side', _rotated, 0, [], ['stored on their side or upside down', 'pug_9.jpg - 6']),
    ('16-bit image', _deep, 0, [], ['16-bit (load_pet_image scales them to 8 bits): 1', 'pug_9.png - I;16']),
    ('symbolic link loop', _loop, 1, ['Symbolic links', "'backup'"], []),
    # point 3: the output folder is checked before training
    ('--out is a file', _out_is_file, 1, ['is a file', 'choose a folder with --out'], []),
    ('--out under a file', _out_under_file, 1, ['is a file', 'choose a folder with --out'], []),
    # point 5: limits on the options
    ('batch of one image', lambda t: ['--bs', 1, *_checked(t)], 2, ['must be at least 2: batch normalisation'], []),
    ('infinite learning rate', lambda t: ['--lr', 'inf', *_checked(t)], 2, ['must be a finite number'], []),
    ('NaN learning rate', lambda t: ['--lr', 'nan', *_checked(t)], 2, ['must be a finite number'], []),
    ('huge learning rate', lambda t: ['--lr', 50, *_checked(t)], 2, ['must be at most 1'], []),
    ('too many epochs', lambda t: ['--epochs', 100_000, *_checked(t)], 2, ['must be between 0 and 100'], []),
    ('tiny size', lambda t: ['--size', 8, *_checked(t)], 2, ['must be at least 32'], []),
    ('huge size', lambda t: ['--size', 100_000, *_checked(t)], 2, ['must be at most 1024'], []),
    ('huge batch', lambda t: ['--bs', 100_000, *_checked(t)], 2, ['must be at most 1024'], []),
    ('negative seed', lambda t: ['--seed', -1, *_checked(t)], 2, ['must be between 0 and 4294967295'], []),
    ('seed past NumPy', lambda t: ['--seed', 2**70, *_checked(t)], 2, ['must be between 0 and 4294967295'], []),
    ('more threads than cores', _threads, 0, ['warning: --threads 100000 is more than the'], []),
    # issue 27: the options given are named, --out is checked before training, ~user paths are sentences
    ('nothing to train names the options', lambda t: ['--data', breeds(t/'d', {'beagle': 3, 'pug': 3}), '--epochs', 0, '--freeze-epochs', 0,
                                                      '--out', t/'out'], 1, ['--epochs 0 and --freeze-epochs 0 leave nothing to train'], []),
    ('no frozen epochs with a recipe of none', lambda t: ['--data', breeds(t/'d'), '--freeze-epochs', 0, '--out', t/'out'], 1,
     ['--freeze-epochs 0 leaves nothing to train', 'give --epochs 1 or more'], []),
    ('--out inside the data folder', lambda t: ['--data', breeds(t/'d'), '--out', t/'d'/'images'/'results', *TRAIN], 1, ['is inside the data folder'], []),
    ('--out holding an earlier run', lambda t: ['--data', breeds(t/'d'), '--out', earlier_run(t/'out'), *TRAIN], 1, ['add --force'], []),
    ('--out holding files no run wrote', lambda t: ['--data', breeds(t/'d'), '--out', foreign_files(t/'out'), '--force', *TRAIN], 1,
     ['results.png, which no petlesson run wrote'], []),
    ('--out under an unknown ~user', lambda t: ['--data', breeds(t/'d'), '--out', '~no_such_user_petlesson/run', *TRAIN], 1,
     ["no user 'no_such_user_petlesson'"], []),
    ('--data under an unknown ~user', lambda t: ['--data', '~no_such_user_petlesson/pets', '--check-only'], 1, ["no user 'no_such_user_petlesson'"], []),
    # issue 27, round 3: refused before training, one sentence each
    ('photos in formats not read', _unread, 1, ['2 image(s) are in a format petlesson does not train on (.heic, .webp)', 'convert them to JPEG or PNG'], []),
    ('photos in formats not read: no training', lambda t: [*_unread(t)[:2], '--out', t/'out', *TRAIN], 1, ['(.heic, .webp)'], []),
    ('breeds that differ only by case', _case_clash, 1, ["The breed names 'Beagle', 'beagle' differ only in capitals", 'a cat',
                                                         "the dataset's is 'beagle'"], []),
    ('breeds that differ only by Unicode form', _unicode_clash, 1, ["'Cafe\\u0301', 'Caf\\xe9' differ only in capitals or Unicode form"], []),
    ('two photos a breed: no validation photo', lambda t: ['--data', breeds(t/'d', {'beagle': 2, 'pug': 2}), '--out', t/'out', *TRAIN], 1,
     ['leaves no validation image (fastai holds out int(0.2 x 4) = 0)'], []),
]

def earlier_run(out:Path)->Path:
    "An --out folder holding what an earlier run wrote (its metrics.json lists its files)"
    out.mkdir(parents=True)
    (out/'metrics.json').write_text(json.dumps(dict(settings={}, model='model.pkl', figures=dict(results='results.png', confusion_matrix='confusion_matrix.png'))))
    for f in ('model.pkl', 'results.png', 'confusion_matrix.png'): (out/f).write_bytes(b'earlier run ' + f.encode())
    return out

def foreign_files(out:Path)->Path:
    "An --out folder holding a results.png of the user's own"
    out.mkdir(parents=True); (out/'results.png').write_bytes(b'my own figure'); return out

@pytest.mark.parametrize('case,build,status,errs,outs', CASES, ids=[c[0] for c in CASES])
def test_bad_input(run, tmp_path, case, build, status, errs, outs):
    code, out, err = run(*build(tmp_path))
    assert code == status, (code, err[-2000:])
    for phrase in errs: assert phrase in err, (phrase, err[-2000:])
    for phrase in outs: assert phrase in out, (phrase, out[-2000:])
    assert 'Traceback' not in err and 'Training:' not in out   # refused before training, with a sentence
    if status == 1 and errs: assert all(l.startswith(('petlesson: error: ', 'petlesson: warning: ')) for l in err.splitlines() if l.strip())

def test_threads_are_cut_to_the_cores(run, tmp_path):
    run(*_threads(tmp_path))
    assert torch.get_num_threads() <= (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count())

# ---------------------------------------------------------------- point 3: cache and output folder
def test_cache_that_is_a_file_names_the_variable(run, tmp_path, monkeypatch):
    (tmp_path/'cache').write_text('a file')
    monkeypatch.setenv(CACHE_ENV, str(tmp_path/'cache'))
    code, out, err = run('--data', breeds(tmp_path/'d'), '--out', tmp_path/'out', *TRAIN)
    assert code == 1 and CACHE_ENV in err and 'is a file' in err and 'Training:' not in out and 'Traceback' not in err

def test_read_only_cache_names_the_variable(run, tmp_path, monkeypatch):
    "A cache nobody may write in (simulated, since root writes anywhere) is refused before training, naming PETLESSON_CACHE"
    cache, mkstemp = tmp_path/'cache', tempfile.mkstemp
    cache.mkdir(); monkeypatch.setenv(CACHE_ENV, str(cache))
    def refuse(*a, dir=None, **kw):
        if dir is not None and Path(dir) == cache: raise PermissionError(13, 'Permission denied', str(dir))
        return mkstemp(*a, dir=dir, **kw)
    monkeypatch.setattr(tempfile, 'mkstemp', refuse)
    code, out, err = run('--data', breeds(tmp_path/'d'), '--out', tmp_path/'out', *TRAIN)
    assert code == 1 and 'Permission denied' in err and CACHE_ENV in err and 'Training:' not in out

@pytest.mark.skipif(ROOT_USER or os.name != 'posix', reason='root (or Windows) ignores permission bits')
def test_unwritable_out_folder_is_refused_before_training(run, tmp_path):
    locked = tmp_path/'locked'; locked.mkdir(); locked.chmod(0o500)
    try: code, out, err = run('--data', breeds(tmp_path/'d'), '--out', locked/'run', *TRAIN)
    finally: locked.chmod(0o700)
    assert code == 1 and '--out' in err and 'Training:' not in out

def test_writable_folder_checks_without_creating(tmp_path):
    assert writable_folder(tmp_path/'a'/'b', '--out') == tmp_path/'a'/'b' and not (tmp_path/'a').exists()
    (tmp_path/'f').write_text('x')
    with pytest.raises(NotADirectoryError, match='choose a folder with --out'): writable_folder(tmp_path/'f'/'run', '--out')

def test_file_errors_name_the_option_or_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path/'cache'))
    e = PermissionError(13, 'Permission denied', str(tmp_path/'cache'/'weights'/'w.pth'))
    assert explain_error(e).endswith(f'choose another with {CACHE_ENV}.')
    e = OSError(28, 'No space left on device', str(tmp_path/'out'/'metrics.json'))
    assert 'No space left on device' in explain_error(e, tmp_path/'out') and explain_error(e, tmp_path/'out').endswith('with --out.')

# ---------------------------------------------------------------- point 4: a loss that turns NaN
@pytest.fixture(scope='module')
def tiny_learner(tmp_path_factory):
    "One real, tiny training (two breeds of 32-pixel images, one epoch), shared by the tests that need a trained learner"
    t = tmp_path_factory.mktemp('tiny')
    old = os.environ.get(CACHE_ENV)
    os.environ.setdefault(CACHE_ENV, str(t/'cache'))
    try: learn = cli.train_step(breeds(t/'d', {'beagle': 10, 'pug': 10}, size=(48, 40)), epochs=1, size=32, bs=4, seed=0)
    finally:
        if old is None: os.environ.pop(CACHE_ENV, None)
    return learn

def test_nan_loss_stops_the_command(run, tmp_path, monkeypatch):
    "A learner whose loss turns NaN: the command stops at the first such batch, says so, exits 1, and writes no metrics"
    make = pl_models.pets_learner
    def nan_learner(*a, **kw):
        learn = make(*a, **kw)
        loss = learn.loss_func
        learn.loss_func = lambda *b: loss(*b) * float('nan')
        return learn
    monkeypatch.setattr(pl_models, 'pets_learner', nan_learner)     # what small_data_learner calls
    monkeypatch.setattr(pl_training, 'pets_learner', nan_learner)   # what trained_pets_learner calls for the book's recipe
    code, out, err = run('--data', breeds(tmp_path/'d'), '--out', tmp_path/'out', *TRAIN)
    assert code == 1 and 'the loss became nan' in err and 'try a smaller --lr' in err and 'Traceback' not in err
    assert 'Exception occured' not in err and not (tmp_path/'out'/'metrics.json').exists()

def test_stop_on_non_finite_loss_on_a_toy_learner():
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    data = list(zip(torch.randn(32, 2), torch.randint(0, 2, (32,))))
    toy = Learner(DataLoaders.from_dsets(data, data, bs=8), torch.nn.Linear(2, 2), loss_func=torch.nn.CrossEntropyLoss(), cbs=StopOnNonFiniteLoss())
    with toy.no_bar(), toy.no_logging():
        toy.fit(1, lr=1e-2)
        with pytest.raises(NonFiniteLossError, match='the loss became'): toy.fit(1, lr=float('inf'))

def test_metrics_json_is_strict_and_guessing_counts_the_breeds(tiny_learner, tmp_path, capsys):
    tiny_learner.epoch_table.loc[0, 'valid_loss'] = float('nan')   # what a diverged epoch leaves in the table
    metrics = cli.report_step(tiny_learner, tmp_path/'run')
    text = (tmp_path/'run'/'metrics.json').read_text()
    def refuse(c): raise ValueError(f'{c} is not JSON')
    saved = json.loads(text, parse_constant=refuse)   # the standard's JSON: no NaN or Infinity
    assert saved['epochs'][0]['valid_loss'] is None and saved['error_rate'] == metrics['error_rate']
    assert 'guessing: 0.5000' in capsys.readouterr().out   # two breeds: a guess is wrong half the time, not 36 times in 37

# ---------------------------------------------------------------- point 5: library errors as sentences
@pytest.mark.parametrize('error,phrase', [
    (ValueError('Expected more than 1 value per channel when training, got input size torch.Size([1, 512])'), 'use a --bs of 2 or more'),
    (KeyError("Label 'boxer' was not included in the training dataset"), "breed 'boxer' is in the training split"),
    (RuntimeError('[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory'), 'Out of memory'),
])
def test_library_errors_become_sentences(run, tmp_path, monkeypatch, error, phrase):
    def fail(*a, **kw): raise error
    monkeypatch.setattr(cli, 'train_step', fail)
    code, out, err = run('--data', breeds(tmp_path/'d'), '--out', tmp_path/'out', *TRAIN)
    assert code == 1 and phrase in err and 'Traceback' not in err and 'enforce fail' not in err and 'per channel' not in err

def test_a_bug_keeps_its_traceback(run, tmp_path, monkeypatch):
    def fail(*a, **kw): raise ZeroDivisionError('division by zero')
    monkeypatch.setattr(cli, 'train_step', fail)
    with pytest.raises(ZeroDivisionError): run('--data', breeds(tmp_path/'d'), '--out', tmp_path/'out', *TRAIN)

def _curve(n, num_it=100, diverged=True):
    lrs, losses = np.geomspace(1e-7, 1e-2, n), np.linspace(3, 1, n)
    return LRCurve(lrs, losses, losses, diverged, num_it)

@pytest.mark.parametrize('n', [18, 22, 26, 30])
def test_suggest_lrs_on_a_short_curve_warns_instead_of_failing(n):
    "A range test stopped early by divergence: fewer than 16 points survive trimming, too few for the slide rule"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        got = suggest_lrs(_curve(n))
    assert list(got) == ['minimum', 'steep', 'valley'] and "No 'slide' suggestion" in str(caught[-1].message)
    lrs, _ = _curve(n).trimmed()
    assert all(lrs[0] <= x <= lrs[-1] for _, (x, _) in got.values())

def test_suggest_lrs_stops_the_curve_at_an_infinite_loss():
    c = _curve(60, num_it=60)
    c.losses[40:] = np.inf
    got = suggest_lrs(c, ('minimum', 'steep'))
    assert all(np.isfinite(y) for _, (_, y) in got.values()) and got['steep'][1][0] < c.lrs[40]

def test_suggest_slide_refuses_a_curve_shorter_than_its_window():
    with pytest.raises(ValueError, match='needs more than width=15 points'): suggest_slide(*_curve(20).trimmed())

@pytest.mark.parametrize('kw,phrase', [(dict(tol=-1), '`tol` must be a positive number'), (dict(tol=float('nan')), '`tol` must be a positive number'),
                                       (dict(t_max=float('inf')), 'finite'), (dict(t_min=0), 'finite 0 < t_min')])
def test_fit_temperature_refuses_bad_settings_instead_of_hanging(kw, phrase):
    z, y = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)), torch.arange(50) % 3
    with within(10), pytest.raises(ValueError, match=phrase): fit_temperature(z, y, **kw)

def test_fit_temperature_ends_below_float_precision():
    z, y = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)), torch.arange(50) % 3
    with within(10): t = fit_temperature(z, y, tol=1e-300)
    assert abs(t - fit_temperature(z, y)) < 1e-4

def test_fit_temperature_refuses_nan_logits():
    with pytest.raises(ValueError, match='NaN'): fit_temperature(torch.full((4, 3), float('nan')), torch.arange(4) % 3)

# ---------------------------------------------------------------- point 2, the library side: what the check finds and the loader fixes
def test_symlink_loop_is_counted_once(tmp_path):
    from fastai.data.transforms import get_image_files
    r = breeds(tmp_path/'d'); os.symlink('.', r/'images'/'backup')
    rep = check_images(r)
    assert len(get_image_files(r/'images')) > 16 * 10   # fastai alone walks the loop over and over
    assert rep.n_images == 16 and rep.repeated[0][0] == 'backup' and not rep.ok

def test_check_matches_the_split_that_crashes(tmp_path):
    "The seeds on which `check_images` names a breed wholly in validation are exactly those on which fastai's DataBlock fails"
    from fastai.data.block import DataBlock, CategoryBlock
    from fastai.data.transforms import get_image_files, RandomSplitter
    from fastai.vision.data import ImageBlock
    r = breeds(tmp_path/'d', {'beagle': 10, 'pug': 10, 'boxer': 2})
    def crashes(seed):
        ds = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_y=pl_photos.pet_label,
                       splitter=RandomSplitter(0.2, seed=seed)).datasets(r/'images')
        try: [ds.valid[i] for i in range(len(ds.valid))]
        except KeyError: return True
        return False
    state = torch.get_rng_state()
    flagged = [s for s in range(30) if check_images(r, seed=s).untrained]
    assert torch.equal(state, torch.get_rng_state())   # the check leaves the random state alone
    assert flagged and flagged == [s for s in range(30) if crashes(s)]

def test_unknown_breeds_are_listed_not_refused(tmp_path):
    rep = check_images(breeds(tmp_path/'d', {'dachshund': 5, 'pug': 5}))
    assert rep.ok and 'dachshund (5)' in str(rep)

def test_load_pet_image_turns_and_scales(tmp_path):
    rotated_photo(tmp_path/'pug_1.jpg')
    im = PetImage.create(tmp_path/'pug_1.jpg')
    assert im.size == (20, 40) and np.asarray(im)[:, -2:, 0].min() > 200   # upright: the top band is now the right edge
    deep = deep_photo(tmp_path/'pug_2.png')
    a = np.asarray(load_pet_image(tmp_path/'pug_2.png'))
    assert a.shape == (64, 64, 3) and np.abs(a[..., 0] - deep / 257).max() <= 0.5 and (a == 255).mean() < 0.01

# ---------------------------------------------------------------- waiting for the lead's wiring (issue 18): strict, so they fail once it is done
def test_training_data_is_upright_and_eight_bit(tmp_path):
    r = breeds(tmp_path/'d', {'beagle': 6, 'pug': 6})
    rotated_photo(r/'images'/'pug_7.jpg'); deep_photo(r/'images'/'pug_8.png')
    dls = pl_pets.pets_dataloaders(r, presize=64, size=32, bs=2, seed=0)
    items = {Path(o).name: (ds, i) for ds in (dls.train_ds, dls.valid_ds) for i, o in enumerate(ds.items)}
    ds, i = items['pug_7.jpg']; turned = ds[i][0]
    ds, i = items['pug_8.png']; deep = np.asarray(ds[i][0])
    assert (turned.shape[:2] if hasattr(turned, 'shape') else turned.size[::-1]) == (40, 20)
    assert (deep == 255).mean() < 0.01

def test_generated_data_in_the_cache_is_readable_by_others(tmp_path):
    make = pl_synthetic.make_sample
    dest = make(tmp_path/'sample', n_per_breed=2)
    assert dest.stat().st_mode & 0o055 == 0o055


# ---------------------------------------------------------------- issue 27: the command's output folder, figures and printing
def test_odd_file_names_are_printed_not_a_traceback(run, tmp_path, monkeypatch):
    "A file name that is not UTF-8 (bytes 0xe9), printed on a terminal that takes ASCII only"
    import io, sys
    r = breeds(tmp_path/'d')
    for n in (b'caf\xe9_1.jpg', b'caf\xe9_2.jpg'): Image.new('RGB', (24, 16)).save(os.path.join(os.fsencode(r/'images'), n))
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding='ascii', errors='strict')
    monkeypatch.setattr(sys, 'stdout', ascii_out)
    code, _, err = run('--data', r, '--check-only')
    ascii_out.seek(0)
    assert code == 0 and 'Traceback' not in err and 'caf\\udce9' in ascii_out.read(), err[-2000:]

def test_report_leaves_the_backend_alone(tiny_learner, tmp_path, monkeypatch):
    "The report draws on Figure objects: it never calls matplotlib.use (which would stop a notebook showing figures)"
    import matplotlib
    def refuse(*a, **k): raise AssertionError('matplotlib.use called')
    monkeypatch.setattr(matplotlib, 'use', refuse)
    cli.report_step(tiny_learner, tmp_path/'run')
    assert (tmp_path/'run'/'results.png').stat().st_size > 10_000

def test_full_disk_while_saving_names_out_and_keeps_the_training(run, tmp_path, monkeypatch):
    "torch's own error for a full disk while the model is written: one sentence naming --out; the earlier run untouched; the weights kept"
    import petlesson.predict as predict
    def full(*a, **k): raise RuntimeError('[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file data/3: file write failed')
    monkeypatch.setattr(predict, 'export_model', full)
    out = earlier_run(tmp_path/'out'); before = {f.name: f.read_bytes() for f in out.iterdir()}
    code, _, err = run('--data', breeds(tmp_path/'d'), '--out', out, '--force', *TRAIN)
    assert code == 1 and 'Traceback' not in err and 'No space left on device' in err and '--out' in err, err[-2000:]
    assert 'trained weights are kept in the petlesson cache' in err and 'rerun with --cache' in err
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before and not [p for p in tmp_path.iterdir() if '.partial' in p.name]

def test_interrupt_while_writing_leaves_out_as_it_was(run, tmp_path, monkeypatch):
    "Ctrl-C while the model is written: no new figures beside the old model and metrics"
    import petlesson.predict as predict
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(predict, 'export_model', interrupted)
    out = earlier_run(tmp_path/'out'); before = {f.name: f.read_bytes() for f in out.iterdir()}
    code, _, err = run('--data', breeds(tmp_path/'d'), '--out', out, '--force', *TRAIN)
    assert code == 130 and {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if '.partial' in p.name]

def test_help_loads_nothing_heavy():
    "petlesson --help answers before torch or fastai load (it took 8-10 s when they loaded first)"
    import subprocess, sys, time
    code = 'import sys, petlesson.command; print(sorted(m for m in ("torch", "fastai", "matplotlib") if m in sys.modules))'
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == '[]', r.stderr[-2000:]
    start = time.time()
    r = subprocess.run([sys.executable, '-m', 'petlesson.command', '--help'], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and '--out' in r.stdout and time.time() - start < 5

def test_help_says_the_size_the_command_trains_at():
    help_text = ' '.join(cli.make_parser().format_help().split())
    assert 'default: 224 on every data source' in help_text and '128 on the sample' not in help_text
    assert cli.command_sizes(224)[1] == 224 and cli.command_sizes(None) == cli.command_sizes(224)

# ---------------------------------------------------------------- issue 27: prediction and untrusted models
@pytest.fixture(scope='module')
def tiny_model(tiny_learner, tmp_path_factory):
    from petlesson.predict import export_model
    return export_model(tiny_learner, tmp_path_factory.mktemp('model')/'run'/'model.pkl')

def _photo(path:Path)->Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path); return path

def test_check_does_not_walk_two_symlink_loops(run, tmp_path):
    "Two links back at images/ (a -> ., b -> .): fastai's walk would never end; the check names them and stops"
    r = breeds(tmp_path/'d'); os.symlink('.', r/'images'/'a'); os.symlink('.', r/'images'/'b')
    with within(60): code, out, err = run('--data', r, '--check-only')
    assert code == 1 and 'Symbolic links' in err and '16 images' in out, err[-2000:]
    with within(60): code, out, err = run('--data', r, '--out', tmp_path/'out', *TRAIN)
    assert code == 1 and 'Symbolic links' in err and 'Training:' not in out

def test_summary_counts_photos_in_subfolders(run, tmp_path):
    "Photos in subfolders of images/: '16 images among 17 files', not '16 images among 9 files'"
    r = breeds(tmp_path/'d')
    (r/'images'/'more').mkdir()
    for f in sorted((r/'images').glob('pug_*.jpg')): f.rename(r/'images'/'more'/f.name)
    (r/'images'/'more'/'notes.txt').write_text('not a photo')
    assert pl_photos.pets_summary(r)['n_files'] == 17
    code, out, err = run('--data', r, '--check-only')
    assert code == 0 and '16 images of 2 breeds (0 cats, 16 dogs) among 17 files' in out, out[-2000:]

def test_one_walker_for_the_check_the_summary_and_predict():
    "predict keeps no walker of its own: it uses petlesson.photos' image_files"
    import petlesson.predict as predict
    assert not hasattr(predict, '_image_files') and predict.image_files is pl_photos.image_files

def test_predict_does_not_walk_symlink_loops(run, tiny_model, tmp_path):
    folder = tmp_path/'photos'; folder.mkdir(); _photo(folder/'pug_1.jpg')
    os.symlink('.', folder/'a'); os.symlink('.', folder/'b')
    with within(60): code, out, err = run('predict', tiny_model, folder, '--cpu')
    assert code == 0 and out.count('pug_1.jpg') == 1, err[-2000:]

def test_a_crafted_model_runs_nothing(run, tmp_path):
    "A pickle whose __reduce__ calls os.system: refused before unpickling, and the command never runs"
    marker = tmp_path/'ran'
    class Crafted:
        def __reduce__(self): return (os.system, (f'touch {marker}',))
    torch.save(Crafted(), tmp_path/'model.pkl')
    code, out, err = run('predict', tmp_path/'model.pkl', _photo(tmp_path/'pug_1.jpg'))
    assert code == 1 and 'which fetches or runs code' in err and '--trust' in err and 'Traceback' not in err
    assert not marker.exists()

def test_a_crafted_protocol_4_pickle_is_refused_while_loading(tmp_path):
    "The same call hidden behind STACK_GLOBAL: the scan cannot read it, the checking unpickler still refuses the name"
    import pickle
    from petlesson.predict import _CheckedUnpickler, UntrustedModelError
    marker = tmp_path/'ran'
    class Crafted:
        def __reduce__(self): return (os.system, (f'touch {marker}',))
    (tmp_path/'x.pkl').write_bytes(pickle.dumps(Crafted(), protocol=4))
    with open(tmp_path/'x.pkl', 'rb') as f, pytest.raises(UntrustedModelError, match='system'): _CheckedUnpickler(f).load()
    assert not marker.exists()

def test_a_run_folder_names_only_its_own_model(run, tiny_model, tmp_path):
    shared = tmp_path/'shared'; shared.mkdir()
    (shared/'metrics.json').write_text(json.dumps(dict(model=str(tiny_model))))
    code, _, err = run('predict', shared, _photo(tmp_path/'pug_1.jpg'))
    assert code == 1 and 'which is not a file inside' in err and 'Traceback' not in err

@pytest.mark.parametrize('text', ['[1, 2]', '{"model": 3}', 'not json', '\xff\xfe'])
def test_a_malformed_metrics_json_is_a_sentence(run, tiny_model, tmp_path, text):
    import shutil
    folder = tmp_path/'run'; folder.mkdir(); shutil.copy(tiny_model, folder/'model.pkl')
    (folder/'metrics.json').write_bytes(text.encode('latin-1'))
    code, _, err = run('predict', folder, _photo(tmp_path/'pug_1.jpg'))
    assert code == 1 and err.startswith('petlesson predict: error: ') and 'Traceback' not in err and len(err.splitlines()) == 1

def test_a_model_of_other_labels_is_refused(run, tiny_learner, tmp_path):
    "A model of another fastai project (labels '3' and '7') is not used as if it knew breeds"
    from types import SimpleNamespace
    from petlesson.predict import inference_dls, load_model
    digits = load_model(cli_model := _export(tiny_learner, tmp_path), 'cpu')
    digits.dls = inference_dls(SimpleNamespace(vocab=['3', '7'], valid=tiny_learner.dls.valid)); digits.export(tmp_path/'digits.pkl')
    code, out, err = run('predict', tmp_path/'digits.pkl', _photo(tmp_path/'pug_1.jpg'))
    assert code == 1 and "that are not pet breeds" in err and out == ''

def _export(learn, d):
    from petlesson.predict import export_model
    return export_model(learn, d/'m'/'model.pkl')

def test_a_missing_module_is_a_sentence(run, tmp_path):
    import sys, types
    gone = types.ModuleType('petlesson.gone'); gone.Thing = type('Thing', (), {'__module__': 'petlesson.gone'})
    sys.modules['petlesson.gone'] = gone
    try: torch.save(gone.Thing(), tmp_path/'model.pkl')
    finally: del sys.modules['petlesson.gone']
    code, _, err = run('predict', tmp_path/'model.pkl', _photo(tmp_path/'pug_1.jpg'))
    assert code == 1 and 'needs the module petlesson.gone, which is not installed' in err and 'UnboundLocalError' not in err

def test_prediction_opens_16_bit_photos_as_training_does(tmp_path):
    from petlesson.predict import open_image
    deep = deep_photo(tmp_path/'pug_1.png')
    a, b = np.asarray(open_image(tmp_path/'pug_1.png')), np.asarray(load_pet_image(tmp_path/'pug_1.png'))
    assert (a == b).all() and (a == 255).mean() < 0.01

def test_predict_files_refuses_a_batch_of_zero(tiny_learner, tmp_path):
    from petlesson.predict import predict_files
    with pytest.raises(ValueError, match='bs must be a whole number of at least 1'): predict_files(tiny_learner, [_photo(tmp_path/'pug_1.jpg')], bs=0)

def test_predict_paths_under_an_unknown_user_are_sentences(run, tiny_model):
    code, _, err = run('predict', '~no_such_user_petlesson/model.pkl', 'x.jpg')
    assert code == 1 and "no user 'no_such_user_petlesson'" in err and 'Traceback' not in err

# ---------------------------------------------------------------- issue 27, round 3: the check, the cache, the Python API, one data source
def test_exif_orientation_0_is_not_a_rotation(run, tmp_path):
    "EXIF orientations run from 1 (upright) to 8; 0 is no orientation at all, and the photo loads as it is"
    r = breeds(tmp_path/'d'); rotated_photo(r/'images'/'pug_9.jpg', orientation=0)
    code, out, err = run('--data', r, '--check-only')
    assert code == 0 and 'no problems' in out and 'stored on their side' not in out, out[-2000:]
    assert check_images(r).rotated == [] and load_pet_image(r/'images'/'pug_9.jpg').size == (40, 20)

def test_renamed_breeds_never_load_stale_weights(run, tmp_path):
    "pug_* renamed Bengal_*, rerun with --cache: trained again on the new names, never the pugs' weights with the labels swapped"
    r = breeds(tmp_path/'d')
    code, out, err = run('--data', r, '--out', tmp_path/'one', '--cache', *TRAIN)
    assert code == 0 and 'Saved trained weights' in out, err[-2000:]
    for f in (r/'images').glob('pug_*'): f.rename(f.with_name(f.name.replace('pug', 'Bengal')))
    code, out, err = run('--data', r, '--out', tmp_path/'two', '--cache', *TRAIN)
    assert code == 0 and 'Loaded trained weights' not in out, err[-2000:]
    assert json.loads((tmp_path/'two'/'metrics.json').read_text())['from_cache'] is False

def test_cached_weights_of_other_breeds_are_never_loaded(tmp_path, monkeypatch, capsys):
    "Even under one key (here forced), a cache file whose breeds differ from the data's is not loaded"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path/'cache'))
    monkeypatch.setattr(pl_training, '_data_id', lambda src: 'the same key for any data')
    r, tiny = breeds(tmp_path/'d'), dict(size=32, bs=4, freeze_epochs=1, seed=0)
    first = pl_training.trained_pets_learner(r, **tiny)
    for f in (r/'images').glob('pug_*'): f.rename(f.with_name(f.name.replace('pug', 'Bengal')))
    second = pl_training.trained_pets_learner(r, **tiny)
    assert second.cache_path == first.cache_path and not second.from_cache and list(second.dls.vocab) == ['Bengal', 'beagle']
    assert 'trained on other breeds than these: training again' in capsys.readouterr().out

def test_cache_key_follows_the_images(tmp_path):
    "The key changes when a photo is renamed, replaced or added, not when nothing changed"
    r = breeds(tmp_path/'d')
    key = lambda: pl_training.learner_cache_path(pl_pets.data_source(r), size=32)
    first = key()
    assert key() == first
    (r/'images'/'pug_1.jpg').rename(r/'images'/'Bengal_1.jpg'); renamed = key()
    Image.new('RGB', (30, 30)).save(r/'images'/'Bengal_1.jpg'); replaced = key()
    Image.new('RGB', (30, 30)).save(r/'images'/'pug_99.jpg'); added = key()
    assert len({first, renamed, replaced, added}) == 4

def test_full_cache_disk_keeps_the_training(run, tmp_path, monkeypatch):
    "torch's RuntimeError for a full disk while the weights go into the cache: a warning naming the folder and PETLESSON_CACHE, and the run goes on"
    cache, save = tmp_path/'cache', torch.save
    monkeypatch.setenv(CACHE_ENV, str(cache))
    def full(obj, f, *a, **k):
        if isinstance(f, (str, Path)) and Path(f).is_relative_to(cache/'learners'):
            raise RuntimeError('[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file data/3: file write failed')
        return save(obj, f, *a, **k)
    monkeypatch.setattr(torch, 'save', full)
    code, out, err = run('--data', breeds(tmp_path/'d'), '--out', tmp_path/'out', '--cache', *TRAIN)
    assert code == 0 and 'Traceback' not in err and 'enforce fail' not in err, err[-2000:]
    assert f"petlesson: warning: the trained weights could not be saved in {cache/'learners'}, the folder that {CACHE_ENV} chooses (No space left on device)" in err
    assert (tmp_path/'out'/'model.pkl').exists() and not list((cache/'learners').glob('*.pth'))

@pytest.mark.parametrize('call,kw,phrase', [
    ('pets_dataloaders', dict(bs='16'), "bs must be a whole number, got '16'"),
    ('pets_dataloaders', dict(bs=-4), 'bs must be positive, got -4'),
    ('pets_dataloaders', dict(valid_pct=1.5), 'valid_pct must be below 1, got 1.5'),
    ('pets_dataloaders', dict(size='64'), "size must be a whole number, got '64'"),
    ('pets_dataloaders', dict(seed=None), 'seed must be a whole number, got None'),
    ('trained_pets_learner', dict(bs=1), 'bs must be at least 2: batch normalisation needs two or more images in a batch'),
    ('trained_pets_learner', dict(freeze_epochs=1.5), 'freeze_epochs must be a whole number, got 1.5'),
    ('trained_pets_learner', dict(lr=-1.), 'lr must be a finite number above 0'),
    ('trained_pets_learner', dict(lr=0.), 'lr must be a finite number above 0'),
    ('trained_pets_learner', dict(bs=64), 'bs=64 is larger than the training set (13 images)'),
])
def test_the_python_api_names_the_bad_argument(tmp_path, monkeypatch, call, kw, phrase):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path/'cache'))
    f = pl_pets.pets_dataloaders if call == 'pets_dataloaders' else pl_training.trained_pets_learner
    with pytest.raises((TypeError, ValueError)) as e: f(breeds(tmp_path/'d'), **kw)
    assert phrase in str(e.value) and 'Assertion' not in type(e.value).__name__

def test_pets_dataloaders_refuses_an_empty_validation_split(tmp_path):
    with pytest.raises(ValueError, match=r'int\(0.2 x 4\) = 0'): pl_pets.pets_dataloaders(breeds(tmp_path/'d', {'beagle': 2, 'pug': 2}), size=16, bs=2)

def test_predict_files_refuses_no_breeds(tiny_learner, tmp_path):
    from petlesson.predict import predict_files
    with pytest.raises(ValueError, match='k must be a whole number of at least 1'): predict_files(tiny_learner, [_photo(tmp_path/'pug_1.jpg')], k=0)

def test_the_command_resolves_the_source_once(run, tmp_path, monkeypatch):
    "The data step's DataSource is what the training takes: the source is resolved once, not once per step"
    resolve, asked, got = pl_pets._resolve_root, [], []
    monkeypatch.setattr(pl_pets, '_resolve_root', lambda a: asked.append(a) or resolve(a))
    def train(source, *a, **k): got.append(source); raise ValueError('stopped before training')
    monkeypatch.setattr(cli, 'train_step', train)
    code, out, err = run('--data', breeds(tmp_path/'d'), '--out', tmp_path/'out', *TRAIN)
    assert code == 1 and 'stopped before training' in err and len(asked) == 1 and isinstance(got[0], pl_pets.DataSource)

def test_the_command_has_one_presize_rule(monkeypatch):
    monkeypatch.setenv('PETLESSON_SIZES', 'cpu')
    assert not hasattr(cli, '_presize_for')
    assert [cli.command_sizes(s)[0] for s in (32, 33, 64, 128, 224)] == [pl_pets.presize_for(s) for s in (32, 33, 64, 128, 224)]
    assert cli.command_sizes(224) == (320, 224)

def test_a_cache_that_cannot_hold_learners_keeps_the_training(tmp_path, monkeypatch, capsys):
    "learners/ in the cache is a file: no lock, no save, one warning naming PETLESSON_CACHE, and the trained learner returned"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path/'cache'))
    (tmp_path/'cache').mkdir(); (tmp_path/'cache'/'learners').write_text('not a folder')
    learn = pl_training.trained_pets_learner(breeds(tmp_path/'d'), size=32, bs=4, freeze_epochs=1, seed=0)
    err = capsys.readouterr().err
    assert learn.cache_path is None and len(learn.epoch_table) == 1
    assert 'petlesson: warning: the trained weights could not be saved in' in err and CACHE_ENV in err and 'Traceback' not in err
