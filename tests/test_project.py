"Packaging, and the promise that notebooks are clean and the package is in sync with them."
import filecmp, shutil, subprocess, sys, tomllib
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent

def test_package_imports_and_has_version(root):
    import petlesson
    assert petlesson.__version__
    cfg = tomllib.loads((root/'pyproject.toml').read_text())
    assert 'nbdev' in cfg['tool'] and cfg['project']['scripts']['petlesson'] == 'petlesson.command:main'
    assert not (root/'settings.ini').exists()

def test_requires_python_allows_no_older_python_than_the_code_needs(root):
    "tools/ and tests/ import tomllib (Python 3.11 and later): requires-python must not promise an older Python"
    cfg = tomllib.loads((root/'pyproject.toml').read_text())
    uses_tomllib = any('tomllib' in p.read_text() for d in ('tools', 'tests') for p in (root/d).glob('*.py'))
    assert not uses_tomllib or cfg['project']['requires-python'] == '>=3.11'

def _copy_project(root, dest):
    for name in ('pyproject.toml', 'README.md'): shutil.copy(root/name, dest/name)
    shutil.copytree(root/'nbs', dest/'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', '_*', 'petlesson-out'))
    shutil.copytree(root/'petlesson', dest/'petlesson', ignore=shutil.ignore_patterns('__pycache__'))

def _differences(a, b, pattern):
    return sorted(str(p.relative_to(a)) for p in a.rglob(pattern)
                  if not (b/p.relative_to(a)).exists() or not filecmp.cmp(p, b/p.relative_to(a), shallow=False))

def test_notebooks_are_clean(root, tmp_path):
    _copy_project(root, tmp_path)
    subprocess.run([BIN/'nbdev-clean'], cwd=tmp_path, check=True, capture_output=True)
    changed = _differences(root/'nbs', tmp_path/'nbs', '*.ipynb')
    assert not changed, f"nbdev-clean would change {changed}: run `make export` and commit"

def test_package_in_sync_with_notebooks(root, tmp_path):
    _copy_project(root, tmp_path)
    subprocess.run([BIN/'nbdev-export'], cwd=tmp_path, check=True, capture_output=True)
    changed = _differences(tmp_path/'petlesson', root/'petlesson', '*.py')
    assert not changed, f"nbdev-export would change {changed}: run `make export` and commit"

def test_every_library_notebook_exports_its_module(root):
    "Library notebooks (numbered 10 and up) export one module each, named after the notebook; a lesson may export nothing"
    import re
    library = sorted(p for p in (root/'nbs').glob('[1-9][0-9]_*.ipynb'))
    assert library, 'no library notebooks found'
    for nb in library:
        m = re.search(r'#\|\s*default_exp\s+(\w+)', nb.read_text())
        assert m and m.group(1) == nb.stem.split('_', 1)[1], f'{nb.name} does not export petlesson.{nb.stem.split("_", 1)[1]}'

def test_no_cell_mixes_imports_with_other_code(root):
    "nbdev's docs build executes every cell that contains an import: such a cell must hold imports only"
    import ast, json, re
    bad = []
    for nb in sorted((root/'nbs').glob('*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            src = ''.join(c['source'])
            if c['cell_type'] != 'code' or 'google.colab' in src or re.search(r'^#\|\s*(export|exporti|exports)\b', src, re.M): continue
            try: body = ast.parse(src).body
            except SyntaxError: continue
            kinds = {isinstance(n, (ast.Import, ast.ImportFrom)) for n in body}
            if kinds == {True, False} and nb.name != 'index.ipynb': bad.append(f'{nb.name} cell {i}')
    assert not bad, f'cells mixing imports and other code (split them): {bad}'
