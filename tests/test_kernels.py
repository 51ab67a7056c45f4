"""Every notebook in nbs/, run top to bottom in a real Jupyter kernel (ipykernel driven by nbclient).

`nbdev-test` runs notebooks in an in-process IPython shell; a reader runs them in a kernel, where
widgets, `display`, inline plots and progress bars go through the Jupyter protocol. One kernel per
notebook, working directory nbs/, the inline matplotlib backend, cells skipped exactly where
`nbdev-test` skips them (`#| eval: false` and the flags in `tst_flags`). Nothing is written back."""
import os, re, tomllib
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
NOTEBOOKS = sorted(p.name for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))
TIMEOUT = int(os.environ.get('PETLESSON_KERNEL_TIMEOUT', 900))  # per cell, seconds

def _skip_flags():
    cfg = tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['nbdev']
    return set(cfg.get('tst_flags', '').split())

def skipped_by_nbdev_test(source:str, flags=frozenset())->bool:
    "True if `nbdev-test` would not run a cell with this source"
    for m in re.finditer(r'^\s*#\|\s*(.+?)\s*$', source, re.M):
        d = m.group(1).replace(' ', '')
        if d in ('eval:false', 'eval:False') or d.split(':')[0] in flags: return True
    return False

def test_skip_rule():
    assert skipped_by_nbdev_test('#| eval: false\nx = 1')
    assert skipped_by_nbdev_test('#| notest\nx = 1', {'notest'})
    assert not skipped_by_nbdev_test('#| export\nx = 1', {'notest'})
    assert not skipped_by_nbdev_test('x = 1  # eval: false')

@pytest.mark.parametrize('name', NOTEBOOKS)
def test_notebook_runs_in_a_kernel(name, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(NBS/name, as_version=4)
    flags = _skip_flags()
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and skipped_by_nbdev_test(c.source, flags))]
    monkeypatch.delenv('MPLBACKEND', raising=False)  # the kernel's own inline backend, as a reader gets
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name='python3', allow_errors=False,
                            resources={'metadata': {'path': str(NBS)}})
    try: client.execute()
    except CellExecutionError as e:
        pytest.fail(f'{name} failed in a real kernel:\n{str(e)[-3000:]}', pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.output_type == 'error']
    assert not errors
