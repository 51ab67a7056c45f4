"Checks of petlesson.photos (with petlesson.pets) that a notebook cannot show: the real annotation lists, and bad folders."
from collections import Counter
import pytest
from conftest import FIXTURE
from petlesson.photos import BREEDS, pet_label, pet_species, check_layout
from petlesson.pets import get_pets

def _rows(name):
    return [l.split() for l in (FIXTURE/name).read_text().splitlines() if l.strip() and not l.startswith('#')]

@pytest.mark.skipif(not (FIXTURE/'list.txt').exists(), reason='Oxford annotation fixture (../shared/data) not present')
def test_pet_label_on_every_oxford_name():
    rows = _rows('list.txt')
    labels = Counter(pet_label(r[0] + '.jpg') for r in rows)
    assert len(rows) == 7349 and set(labels) == set(BREEDS)
    ids = Counter(int(r[1]) for r in rows)
    assert [labels[b] for b in BREEDS] == [ids[i + 1] for i in range(37)]
    assert all((pet_species(pet_label(r[0] + '.jpg')) == 'cat') == (r[2] == '1') for r in rows)
    assert len(_rows('trainval.txt')) + len(_rows('test.txt')) == len(rows)

def test_sample_annotations_match_the_official_format():
    root = get_pets('sample')
    rows = [l.split() for l in (root/'annotations'/'list.txt').read_text().splitlines() if not l.startswith('#')]
    assert all(len(r) == 4 for r in rows)
    for name, cid, species, bid in rows:
        breed = pet_label(name + '.jpg')
        assert int(cid) == list(BREEDS).index(breed) + 1
        assert species == ('1' if BREEDS[breed] == 'cat' else '2')
        assert (root/'images'/f'{name}.jpg').exists()

def test_bad_folders_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='No such folder'): check_layout(tmp_path/'missing')
    with pytest.raises(ValueError, match='no images/ folder'): check_layout(tmp_path)
    (tmp_path/'images').mkdir()
    with pytest.raises(ValueError, match='contains no image files'): check_layout(tmp_path)

def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    from petlesson.photos import cache_dir, CACHE_ENV
    monkeypatch.setenv(CACHE_ENV, str(tmp_path/'c'))
    assert cache_dir() == tmp_path/'c'
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir().name == 'petlesson' and '~' not in str(cache_dir())

def test_check_images_counts_what_get_image_files_finds():
    "Without links, the check walks the folder exactly as fastai does: the same images, once each"
    from fastai.data.transforms import get_image_files
    from petlesson.photos import check_images
    root = get_pets('sample')
    report = check_images(root)
    assert report.n_images == len(get_image_files(root/'images')) and report.repeated == []
    assert sum(report.per_breed.values()) + len(report.unlabelled) == report.n_images
