"""Colab: every notebook opens with the setup cell and carries its 'Open in Colab' badge (tools/colab.py)."""
import json, subprocess, sys, types
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import colab  # noqa: E402

NOTEBOOKS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
REPO = 'https://github.com/petlesson/petlesson'

def _cells(name): return json.loads((ROOT/'nbs'/name).read_text())['cells']
def _src(c): return ''.join(c['source'])

def test_urls_come_from_pyproject():
    assert colab.repo_url() == REPO
    assert colab.colab_url('03_cross_entropy.ipynb') == \
        'https://colab.research.google.com/github/petlesson/petlesson/blob/main/nbs/03_cross_entropy.ipynb'
    assert f"'petlesson @ git+{REPO}'" in colab.setup_source()

@pytest.mark.parametrize('name', NOTEBOOKS)
def test_first_code_cell_is_the_colab_setup(name):
    cells = _cells(name)
    first_code = next(c for c in cells if c['cell_type'] == 'code')
    assert _src(first_code) == colab.setup_source(), \
        f'{name}: the first code cell is not the Colab setup cell; run `python tools/colab.py nbs/{name}` (make colab)'

@pytest.mark.parametrize('name', NOTEBOOKS)
def test_badge_under_the_title(name):
    cells = _cells(name)
    title = next(i for i, c in enumerate(cells) if c['cell_type'] == 'markdown')
    assert _src(cells[title]).startswith('# '), f'{name}: the first markdown cell is not a title'
    assert _src(cells[title+1]) == colab.badge_markdown(name), f'{name}: no Open in Colab badge under the title (make colab)'
    assert f'({colab.colab_url(name)})' in colab.badge_markdown(name)

def _run_setup(fake_colab, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, 'run', lambda *a, **k: calls.append((a, k)))
    if fake_colab: monkeypatch.setitem(sys.modules, 'google.colab', types.ModuleType('google.colab'))
    else: monkeypatch.delitem(sys.modules, 'google.colab', raising=False)
    exec(colab.setup_source(), {})
    return calls

def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_setup(False, monkeypatch) == []

def test_setup_cell_installs_the_package_in_colab(monkeypatch):
    calls = _run_setup(True, monkeypatch)
    assert len(calls) == 1
    (cmd,), kw = calls[0]
    assert cmd[:4] == [sys.executable, '-m', 'pip', 'install'] and cmd[-1] == f'petlesson @ git+{REPO}'
    assert kw.get('check') is True

def test_tool_inserts_once_and_replaces_old_versions(tmp_path):
    nb = {'cells': [{'cell_type': 'markdown', 'metadata': {}, 'source': '# 09 Extra\n\n> A lesson.'},
                    {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None, 'source': '#| default_exp extra'}],
          'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    p = tmp_path/'09_extra.ipynb'
    p.write_text(json.dumps(nb))
    assert colab.add_colab_to_file(p, ROOT) is True
    cells = json.loads(p.read_text())['cells']
    assert [c['cell_type'] for c in cells] == ['markdown', 'markdown', 'code', 'code']
    assert _src(cells[2]) == colab.setup_source() and 'nbs/09_extra.ipynb' in _src(cells[1])
    assert colab.add_colab_to_file(p, ROOT) is False  # idempotent
    cells[2]['source'] = cells[2]['source'].replace('-q', '-q -U')  # an older version of the setup cell
    p.write_text(json.dumps({**nb, 'cells': cells}))
    assert colab.add_colab_to_file(p, ROOT) is True
    assert [_src(c) for c in json.loads(p.read_text())['cells']].count(colab.setup_source()) == 1

def test_tool_refuses_a_notebook_without_a_title():
    with pytest.raises(ValueError, match='no title cell'):
        colab.add_colab_cells({'cells': [{'cell_type': 'code', 'metadata': {}, 'source': 'x = 1'}]}, 'x.ipynb')

def test_readme_has_a_colab_link():
    assert colab.colab_url('index.ipynb') in (ROOT/'README.md').read_text()
