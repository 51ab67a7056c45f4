"""The README, the front page (nbs/index.ipynb) and the Quarto sidebar agree with each other and with nbs/."""
import json, re, sys
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import docs  # noqa: E402

LESSONS = sorted(p.name for p in (ROOT/'nbs').glob('[0-9][0-9]_*.ipynb'))
ROW_RE = re.compile(r'^\|\s*\[([^\]]+)\]\((\d\d_[\w]+\.ipynb)\)\s*\|\s*(.+?)\s*\|\s*(?:`([\w.]+)`|—)\s*\|\s*$', re.M)

def _index_md():
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    return '\n\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')

def _rows(): return ROW_RE.findall(_index_md())

def test_readme_is_generated_from_index():
    assert (ROOT/'README.md').read_text() == docs.readme_text(), \
        'README.md is not what nbs/index.ipynb makes: edit the notebook, then run `make readme`'

def test_readme_generation_rewrites_links(tmp_path):
    (tmp_path/'nbs').mkdir()
    nb = {'cells': [{'cell_type': 'markdown', 'metadata': {}, 'source': '# T\n\nSee [00](00_data.ipynb#x) and [w](https://a.b/c.ipynb).'},
                    {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'source': '#| hide\nsecret = 1'},
                    {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'source': 'shown = 2'}],
          'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
    (tmp_path/'nbs'/'index.ipynb').write_text(json.dumps(nb))
    text = docs.readme_text(tmp_path)
    assert '[00](nbs/00_data.ipynb#x)' in text and '(https://a.b/c.ipynb)' in text
    assert 'secret' not in text and '```python\nshown = 2\n```' in text

def test_readme_says_how_to_run_switch_build_and_test():
    text = (ROOT/'README.md').read_text()
    for cmd in ('make run', 'make test', 'make docs', 'PETLESSON_DATA=full', 'petlesson --data full --backbone resnet34',
                'colab.research.google.com/github/petlesson/petlesson/blob/main/nbs/'):
        assert cmd in text, f'the README does not mention {cmd!r}'

def test_index_lists_every_lesson_once_in_order():
    rows = _rows()
    listed = [r[1] for r in rows]
    assert len(listed) == len(set(listed)) and listed == sorted(listed), listed
    unlisted = sorted(set(LESSONS) - set(listed))
    assert not unlisted, f'nbs/index.ipynb has no line for {unlisted}: add one to its lesson table, then `make readme`'

def test_every_listed_lesson_exists():
    missing = [r[1] for r in _rows() if not (ROOT/'nbs'/r[1]).exists()]
    assert not missing, f'nbs/index.ipynb lists lessons that are not in nbs/: {missing}'

def test_index_module_column_matches_the_notebooks():
    for label, nb, what, module in _rows():
        p = ROOT/'nbs'/nb
        if not p.exists(): continue
        src = '\n'.join(''.join(c['source']) for c in json.loads(p.read_text())['cells'])
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M)
        if not module: assert m is None, f'{nb} exports {m.group(1)}, the index says it exports nothing'; continue
        assert m and f'petlesson.{m.group(1)}' == module, f'{nb} exports {m and m.group(1)}, the index says {module}'

def _flat(items:list)->list:
    "The notebooks of a Quarto sidebar's contents, sections opened, in order"
    return [n for c in items for n in (_flat(c['contents']) if isinstance(c, dict) else [c])]

def test_quarto_sidebar_is_in_lesson_order_and_complete():
    contents = yaml.safe_load((ROOT/'nbs'/'sidebar.yml').read_text())['website']['sidebar']['contents']
    sections = {c['section']: c['contents'] for c in contents if isinstance(c, dict)}
    assert list(sections) == ['Lessons', 'Library'], 'nbs/sidebar.yml needs the two sections, Lessons then Library'
    assert all(n.startswith('0') for n in sections['Lessons']) and all(n.startswith('1') for n in sections['Library'])
    contents = _flat(contents)
    assert contents[0] == 'index.ipynb' and contents[1:] == sorted(contents[1:])
    assert not sorted(set(LESSONS) - set(contents)), 'a notebook is missing from nbs/sidebar.yml'
    missing = [c for c in contents if not (ROOT/'nbs'/c).exists()]
    assert not missing, f'nbs/sidebar.yml lists notebooks that are not in nbs/: {missing}'
    assert contents[1:] == [r[1] for r in _rows()], 'nbs/sidebar.yml and the tables of nbs/index.ipynb differ'

def test_quarto_config():
    q = yaml.safe_load((ROOT/'nbs'/'_quarto.yml').read_text())
    assert q['project']['type'] == 'website' and 'sidebar.yml' in q['metadata-files'] and 'nbdev.yml' in q['metadata-files']
    css = q['format']['html'].get('css')
    assert css is None or (ROOT/'nbs'/css).exists()
    wf = yaml.safe_load((ROOT/'.github'/'workflows'/'deploy.yaml').read_text())
    assert 'nbdev-docs' in json.dumps(wf) or 'quarto-ghp' in json.dumps(wf)

def test_lessons_have_committed_outputs():
    "The docs show committed outputs: a lesson saved without them (plain `nbdev-clean` after a clear) has none"
    for name in LESSONS:
        code = [c for c in json.loads((ROOT/'nbs'/name).read_text())['cells'] if c['cell_type'] == 'code']
        assert any(c.get('outputs') for c in code), \
            f'{name} has no outputs: run `nbdev-test nbs/{name} --save` then `nbdev-clean`, and commit it'
    for name in LESSONS + ['index.ipynb']:
        nb = json.loads((ROOT/'nbs'/name).read_text())
        errors = [o for c in nb['cells'] for o in c.get('outputs', []) if o.get('output_type') == 'error']
        assert not errors, f'{name} has a committed error output'
