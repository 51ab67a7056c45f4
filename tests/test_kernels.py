"""Every notebook in nbs/, run top to bottom in a real Jupyter kernel (ipykernel driven by nbclient), as Colab runs it.

`nbdev-test` runs notebooks in an in-process IPython shell; a reader runs them in a kernel, where
widgets, `display`, inline plots and progress bars go through the Jupyter protocol. One kernel per
notebook, started in a fresh empty folder with only the package importable (not the repository root, no
nbs/, tools/ or ../shared beside it, the notebook's own file not on disk there), the default data source,
matplotlib's inline backend, cells skipped exactly where `nbdev-test` skips them (tools/kernel.py).
Nothing is written back. The notebooks run $NB_WORKERS
(default 2) at a time, each in its own kernel process; each notebook still passes or fails on its own."""
import os, sys, tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import kernel  # noqa: E402

NOTEBOOKS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))

def test_skip_rule():
    assert kernel.skipped_by_nbdev_test('#| eval: false\nx = 1')
    assert kernel.skipped_by_nbdev_test('#| notest\nx = 1', {'notest'})
    assert not kernel.skipped_by_nbdev_test('#| export\nx = 1', {'notest'})
    assert not kernel.skipped_by_nbdev_test('x = 1  # eval: false')
    assert 'notest' in kernel.skip_flags()

@pytest.fixture(scope='session')
def kernel_runs():
    "Every notebook started in its own kernel, NB_WORKERS at a time: name -> future of the executed notebook"
    pool = ThreadPoolExecutor(max_workers=max(1, int(os.environ.get('NB_WORKERS', 2))))
    empty = lambda: tempfile.mkdtemp(prefix='petlesson-colab-')   # a fresh empty working folder per notebook
    yield {name: pool.submit(kernel.execute, ROOT/'nbs'/name, cwd=empty()) for name in NOTEBOOKS}
    pool.shutdown(wait=True, cancel_futures=True)

@pytest.mark.parametrize('name', NOTEBOOKS)
def test_notebook_runs_in_a_kernel(name, kernel_runs):
    from nbclient.exceptions import CellExecutionError
    try: nb = kernel_runs[name].result()
    except CellExecutionError as e: pytest.fail(f'{name} failed in a real kernel:\n{str(e)[-3000:]}', pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.output_type == 'error']
    assert not errors

def test_kernel_run_keeps_skipped_cells_and_stores_widgets(tmp_path):
    "A kernel run skips what nbdev-test skips, keeps those cells, and stores the state of the widgets it shows"
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('#| eval: false\nraise RuntimeError("must not run")'),
                nbformat.v4.new_code_cell('import os, ipywidgets as w\nprint(os.getcwd())\nw.IntSlider(value=4)'),
                nbformat.v4.new_code_cell('import matplotlib; print(matplotlib.get_backend())')]
    p = tmp_path/'t.ipynb'
    nbformat.write(nb, str(p))
    out = kernel.execute(p, timeout=120)
    assert len(out.cells) == 3 and out.cells[0].outputs == []
    assert out.cells[1].outputs[0].text.strip() == str(tmp_path)
    assert any('application/vnd.jupyter.widget-view+json' in o.get('data', {}) for o in out.cells[1].outputs)
    state = out.metadata['widgets'][kernel.WIDGET_MIME]['state']
    assert [s['state']['value'] for s in state.values() if s['model_name'] == 'IntSliderModel'] == [4]
    assert 'inline' in out.cells[2].outputs[0].text

def test_stale_widget_buffers_are_dropped():
    "A FileUpload emptied after an upload: its saved state keeps no bytes that no longer belong to a value"
    state = {'state': {'a': {'model_name': 'FileUploadModel', 'state': {'value': []}, 'buffers': [{'path': ['value', 0, 'content'], 'data': 'AAAA', 'encoding': 'base64'}]},
                       'b': {'model_name': 'FileUploadModel', 'state': {'value': [{'name': 'x.jpg'}]}, 'buffers': [{'path': ['value', 0, 'content'], 'data': 'AAAA', 'encoding': 'base64'}]},
                       'c': {'model_name': 'IntSliderModel', 'state': {'value': 3}}}}
    out = kernel.drop_stale_buffers(state)['state']
    assert 'buffers' not in out['a'] and len(out['b']['buffers']) == 1 and 'buffers' not in out['c']

def test_colab_like_kernel_sees_the_package_only(tmp_path):
    "The kernel test's setting: cwd an empty folder, petlesson importable, the repository root and its notebooks not"
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('import os, sys, petlesson\nfrom pathlib import Path\n'
                                          'print(os.listdir("."), Path(petlesson.__file__).parent.name)\n'
                                          f'print(any(Path(p).resolve() == Path({str(ROOT)!r}) for p in sys.path if p))\n'
                                          'import importlib.util; print(importlib.util.find_spec("kernel") is None)')]
    src = tmp_path/'nb'/'t.ipynb'; src.parent.mkdir(); nbformat.write(nb, str(src))
    work = tmp_path/'empty'; work.mkdir()
    out = kernel.execute(src, timeout=120, cwd=work)
    assert out.cells[0].outputs[0].text.split('\n')[:3] == ["[] petlesson", 'False', 'True']
