"The outputs saved in the notebooks (what the docs site shows): from the real photos, with no path of the machine that ran them."
import json, os, re
from pathlib import Path
import pytest
from conftest import ROOT

NOTEBOOKS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))

def _texts(nb:dict):
    "(cell index, text) of every text output saved in a notebook: streams, plain text, HTML, errors"
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []):
            if 'text' in o: yield i, ''.join(o['text'])
            for mime in ('text/plain', 'text/html', 'text/markdown'):
                if mime in o.get('data', {}): yield i, ''.join(o['data'][mime])
            if o.get('output_type') == 'error': yield i, '\n'.join(o.get('traceback', []))

# Folders of the machine that saved the outputs: its home folder (and so the petlesson cache), the checkout's folder.
# Throw-away folders from `tempfile` (/tmp/tmpXXXX), which the lessons' bad-input demonstrations create and print, are
# allowed: they name nothing of the machine or its user.
MACHINE_PATHS = re.compile(r'(?<![\w.])(/root/|/home/\w+/|/work/|/Users/\w+/|[A-Z]:\\Users\\)')

@pytest.mark.parametrize('nb_path', NOTEBOOKS, ids=lambda p: p.name)
def test_saved_outputs_name_no_machine_path(nb_path):
    nb = json.loads(nb_path.read_text())
    found = [(i, m.group(0), t[max(0, m.start() - 40):m.end() + 40]) for i, t in _texts(nb) for m in MACHINE_PATHS.finditer(t)]
    assert not found, f'{nb_path.name}: outputs show paths of the machine that saved them: {found[:3]}'

@pytest.mark.parametrize('nb_path', NOTEBOOKS, ids=lambda p: p.name)
def test_saved_outputs_come_from_the_real_photos(nb_path):
    "Outputs saved from the synthetic fallback would print its one line; none may"
    nb = json.loads(nb_path.read_text())
    assert not [i for i, t in _texts(nb) if 'using the synthetic sample' in t], f'{nb_path.name} was saved on the synthetic fallback'

def test_the_machine_path_check_can_fail():
    assert MACHINE_PATHS.search("Saved weights to /root/.cache/petlesson/learners/x.pth")
    assert MACHINE_PATHS.search("Data: photos in /work/main/nbs/x")
    assert not MACHINE_PATHS.search("cannot identify image file '/tmp/tmp18ne9gmg/images/beagle_999.jpg'")
    assert not MACHINE_PATHS.search("Data: oxford-iiit-pet-sample-v2 (Path.BASE_PATH)")
