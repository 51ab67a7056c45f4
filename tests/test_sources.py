"Where the photos come from: the real sample's names, its assembly, the offline fallback, and no photo in the repository."
import os, stat, subprocess, time
from pathlib import Path
import pytest
from PIL import Image
import petlesson.photos as P, petlesson.pets as D
from conftest import ROOT

SHARED = ROOT.parent/'shared'/'data'/'oxford-iiit-pet-370'
needs_shared = pytest.mark.skipif(not (SHARED/'images').is_dir(), reason='the real sample (../shared/data/oxford-iiit-pet-370) is not beside this clone')

def _fake_photos(root:Path, names=None)->Path:
    "A folder in the Oxford layout with a tiny stand-in file for each of `names` (default: the sample's)"
    (root/'images').mkdir(parents=True); (root/'annotations').mkdir()
    for n in names or P.sample_files():
        if n.endswith('.jpg'): Image.new('RGB', (8, 8), (len(n), 0, 0)).save(root/'images'/n)
        else: (root/'images'/n).write_bytes(b'MATLAB')
    lines = [f'{Path(n).stem} 1 1 1\n' for n in P.sample_files() if n.endswith('.jpg')] + ['not_in_sample_1 2 2 2\n']
    (root/'annotations'/'list.txt').write_text('#Image CLASS-ID SPECIES BREED ID\n' + ''.join(lines))
    return root

def test_sample_names():
    files = P.sample_files()
    assert len(files) == len(set(files)) == 375
    photos = [f for f in files if f.endswith('.jpg')]
    assert len(photos) == 372 and {P.pet_label(f) for f in photos} == set(P.BREEDS)
    assert sorted(f for f in files if not f.endswith('.jpg')) == ['Abyssinian_100.mat', 'Abyssinian_101.mat', 'Abyssinian_102.mat']

@needs_shared
def test_sample_names_are_exactly_the_shared_folder():
    assert sorted(P.sample_files()) == sorted(p.name for p in (SHARED/'images').iterdir())

def test_real_sample_links_every_file_unaltered(tmp_path, monkeypatch):
    src = _fake_photos(tmp_path/'photos')
    dest = P.real_sample(tmp_path/'cache'/'sample', photos=src)
    assert sorted(p.name for p in (dest/'images').iterdir()) == sorted(P.sample_files())
    for n in P.sample_files()[:20]: assert (dest/'images'/n).read_bytes() == (src/'images'/n).read_bytes()
    listed = (dest/'annotations'/'list.txt').read_text()
    assert listed.startswith('#Image') and 'not_in_sample_1' not in listed and 'Abyssinian_5 ' in listed
    assert stat.S_IMODE(dest.stat().st_mode) & 0o055 == 0o055    # readable by others, like the rest of the cache
    def no_reading(*a, **k): raise AssertionError('the finished sample was assembled again')
    monkeypatch.setattr(P, '_link_or_copy', no_reading); monkeypatch.setattr(P, 'sample_files', no_reading)
    assert P.real_sample(tmp_path/'cache'/'sample', photos=tmp_path/'nowhere') == dest   # already there: nothing is read again

def test_real_sample_names_a_missing_file_and_leaves_nothing(tmp_path):
    names = [n for n in P.sample_files() if n != 'pug_112.jpg']
    src = _fake_photos(tmp_path/'photos', names)
    with pytest.raises(P.PhotosUnavailable, match='pug_112.jpg'): P.real_sample(tmp_path/'cache'/'s', photos=src)
    assert not (tmp_path/'cache'/'s').exists() and not any((tmp_path/'cache').glob('*')) if (tmp_path/'cache').exists() else True

def test_photos_folder_from_the_environment(tmp_path, monkeypatch):
    src = _fake_photos(tmp_path/'photos')
    monkeypatch.setenv(P.PHOTOS_ENV, str(src/'images'))   # the images folder itself is accepted too
    assert P.find_photos() == src
    monkeypatch.setenv(P.PHOTOS_ENV, str(tmp_path/'nowhere'))
    with pytest.raises(P.PhotosUnavailable, match='PETLESSON_PHOTOS'): P.find_photos()

def test_offline_falls_back_to_synthetic_once_with_one_line(tmp_path, monkeypatch, capsys):
    "No photos and no network: one printed line, the synthetic sample, and the network is asked only once"
    monkeypatch.setenv(P.CACHE_ENV, str(tmp_path/'cache'))
    monkeypatch.delenv(P.PHOTOS_ENV, raising=False); monkeypatch.delenv(P.DATA_ENV, raising=False)
    monkeypatch.setattr(P, '_fastai_copy', lambda: None)
    monkeypatch.setattr(P, '_VERDICT', {}); monkeypatch.setattr(D, '_SAID', set())
    asked = []
    monkeypatch.setattr(P, '_reachable', lambda url, timeout: asked.append(timeout) or 'gaierror: no network')
    made = []
    monkeypatch.setattr(D, 'make_sample', lambda *a, **k: made.append(1) or tmp_path/'synthetic')
    assert D.get_pets() == tmp_path/'synthetic' and D.get_pets('sample') == tmp_path/'synthetic'
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and 'synthetic sample' in out[0] and 'PETLESSON_PHOTOS' in out[0] and 'no network' in out[0]
    assert asked == [15] and len(made) == 2

def test_network_check_gives_up_in_time(monkeypatch):
    import socket
    monkeypatch.setattr(socket, 'create_connection', lambda *a, **k: time.sleep(5) or socket.socket())
    t = time.perf_counter()
    why = P._reachable('https://example.invalid/x.tgz', timeout=0.3)
    assert time.perf_counter() - t < 4 and 'no answer within 0.3 s' in why   # gave up well before the 5 s the connection would take

def test_synthetic_is_marked_and_sized(tmp_path, monkeypatch):
    monkeypatch.setenv(P.CACHE_ENV, str(tmp_path))
    root = D.make_sample(tmp_path/'syn', n_per_breed=2)
    assert D.is_synthetic(root) and not D.is_synthetic(_fake_photos(tmp_path/'photos'))
    assert stat.S_IMODE(root.stat().st_mode) & 0o055 == 0o055
    monkeypatch.setenv(P.SIZES_ENV, 'cpu'); assert D.default_sizes() == (192, 128)    # every source on a CPU
    monkeypatch.setenv(P.SIZES_ENV, 'book'); assert D.default_sizes() == (460, 224)   # the book's
    monkeypatch.delenv(P.SIZES_ENV); monkeypatch.setattr(D, '_resolve_root', lambda asked: root)
    src = D.data_source('synthetic')
    assert (src.synthetic, src.root, src.sizes) == (True, root, D.default_sizes())
    dls = D.pets_dataloaders(src, size=256, bs=4)   # presize from the one rule (352): it used to raise here
    assert dls.one_batch()[0].shape[-2:] == (256, 256)

def test_no_dataset_photo_is_tracked_by_git():
    "The repository never redistributes photos: no tracked file is named like a dataset image or has the bytes of one"
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    named = [f for f in files if P.PET_RE.match(Path(f).name) or Path(f).name in P.sample_files()]
    assert named == [], f'dataset photos tracked by git: {named}'
    if (SHARED/'images').is_dir():
        sizes = {p.stat().st_size for p in (SHARED/'images').iterdir()}
        same = [f for f in files if (ROOT/f).is_file() and (ROOT/f).stat().st_size in sizes and any(
                (ROOT/f).read_bytes() == p.read_bytes() for p in (SHARED/'images').iterdir() if p.stat().st_size == (ROOT/f).stat().st_size)]
        assert same == [], f'files with the bytes of a dataset photo: {same}'
