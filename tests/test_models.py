"Pieces of petlesson.models that the lessons use only indirectly."
import pytest, torch
from petlesson.models import save_atomically

def test_atomic_save_writes_whole_files_and_leaves_no_temporaries(tmp_path):
    dest = save_atomically({'w': torch.arange(5)}, tmp_path/'sub'/'x.pth')
    assert torch.equal(torch.load(dest)['w'], torch.arange(5))
    save_atomically({'w': torch.zeros(2)}, dest)              # replaces in place
    assert torch.equal(torch.load(dest)['w'], torch.zeros(2))
    with pytest.raises(Exception): save_atomically(lambda: 0, dest)   # cannot be pickled
    assert torch.equal(torch.load(dest)['w'], torch.zeros(2))     # the old file survives a failed save
    assert sorted(p.name for p in dest.parent.iterdir()) == ['x.pth']

def test_no_exported_name_is_replaced_by_fastais_star_import():
    """Lessons run `from fastai.vision.all import *` after their exported cells; a name that fastai exports too would
    then mean fastai's function in the notebook (fastcore's `atomic_save`, a context manager, once replaced ours there
    and broke lesson 02 on an empty cache only)."""
    import importlib, json
    import fastai.vision.all as fa
    from conftest import ROOT
    star = {n for n in dir(fa) if not n.startswith('_')}
    checked = []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        code = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
        module = next((l.split()[-1] for c in code for l in c.splitlines() if l.startswith('#| default_exp ')), None)
        if module is None or not any('from fastai.vision.all import *' in c for c in code): continue
        clash = sorted(set(importlib.import_module(f'petlesson.{module}').__all__) & star)
        assert clash == [], f'{nb.name} exports names that its own star import of fastai replaces: {clash}'
        checked.append(module)
    assert checked, 'no notebook both exports and star-imports fastai: this check checks nothing'
    assert 'atomic_save' in star   # the name that bit
