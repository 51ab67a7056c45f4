"""Run notebooks in a real Jupyter kernel (ipykernel via nbclient), as a reader does.

    python tools/kernel.py nbs/03_cross_entropy.ipynb ...   # `make outputs NBS=...`: run and save outputs

Saving runs the notebook top to bottom in a fresh kernel in nbs/, with matplotlib's inline backend,
writes the outputs back together with the state of every widget (which `nbdev-test --save` cannot
store: its in-process shell has no widget comms), then `nbdev-clean`s the file. The docs show
exactly these outputs, and the docs build embeds the saved widget state so that sliders render.
Cells are skipped exactly where `nbdev-test` skips them (`#| eval: false`, the `tst_flags`);
tests/test_kernels.py runs every notebook the same way without saving.
"""
from __future__ import annotations
import os, re, subprocess, sys, tempfile, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDGET_MIME = 'application/vnd.jupyter.widget-state+json'

def skip_flags(root:Path=ROOT)->set:
    "The `tst_flags` of pyproject.toml: cells marked with one are not run by nbdev-test"
    cfg = tomllib.loads((Path(root)/'pyproject.toml').read_text())['tool']['nbdev']
    return set(cfg.get('tst_flags', '').split())

def skipped_by_nbdev_test(source:str, flags=frozenset())->bool:
    "True if `nbdev-test` would not run a cell with this source"
    for m in re.finditer(r'^\s*#\|\s*(.+?)\s*$', source, re.M):
        d = m.group(1).replace(' ', '')
        if d.lower() == 'eval:false' or d.split(':')[0] in flags: return True
    return False

def kernel_env(package_only:bool=False)->dict:
    "The kernel's environment: petlesson importable, matplotlib's own inline backend"
    env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}
    rest = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p and Path(p).resolve() != ROOT]
    if package_only:   # as in Colab: the package is importable, the repository (nbs/, tools/, tests/) is not
        pkg = Path(tempfile.mkdtemp(prefix='petlesson-package-'))
        (pkg/'petlesson').symlink_to(ROOT/'petlesson', target_is_directory=True)
        rest.insert(0, str(pkg))
    else: rest.insert(0, str(ROOT))
    env['PYTHONPATH'] = os.pathsep.join(rest)
    return env

def _resolves(state, path)->bool:
    "Whether the buffer `path` (keys and indices) leads into `state`: every step but the last exists (the last is the buffer's own)"
    for k in path[:-1]:
        try: state = state[k]
        except (KeyError, IndexError, TypeError): return False
    return isinstance(state, (dict, list))

def has_widget_views(nb)->bool:
    "True if an output of `nb` shows a widget: widgets built but never shown need no saved state (the page has nothing to render)"
    return any('application/vnd.jupyter.widget-view+json' in o.get('data', {}) for c in nb['cells'] for o in c.get('outputs', []))

def drop_stale_buffers(widget_state:dict)->dict:
    """Remove binary buffers whose path no longer exists in their model's state, in place; return `widget_state`.
    nbclient keeps the last buffers a model sent even after a later update empties the value they belonged to
    (a FileUpload set back to `()` keeps the uploaded file's bytes), and the html-manager then fails to render the
    page's widgets ("Cannot set properties of undefined")."""
    for model in widget_state.get('state', {}).values():
        if 'buffers' in model:
            model['buffers'] = [b for b in model['buffers'] if _resolves(model.get('state', {}), b['path'])]
            if not model['buffers']: del model['buffers']
    return widget_state

def execute(path:Path|str, timeout:int=900, kernel_name:str='python3', cwd:Path|str|None=None):
    """Run notebook `path` in a fresh kernel; return the nbformat notebook with outputs and widget state.
    cwd=None runs it in its own folder with the repository importable; a `cwd` (an empty folder, say) runs it there
    as Colab does, with only the package importable and the notebook's file nowhere near."""
    import nbformat
    from nbclient import NotebookClient
    from jupyter_client.manager import KernelManager
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    flags = skip_flags()
    run = nbformat.from_dict({**nb, 'cells': []})
    run.cells = [c for c in nb.cells if not (c.cell_type == 'code' and skipped_by_nbdev_test(c.source, flags))]  # same cell objects
    km = KernelManager(kernel_name=kernel_name)
    where = Path(cwd) if cwd is not None else path.parent
    km.start_kernel(env=kernel_env(package_only=cwd is not None), cwd=str(where))
    try:
        NotebookClient(run, km=km, timeout=timeout, allow_errors=False, store_widget_state=True,
                       resources={'metadata': {'path': str(where)}}).execute()
    finally:
        if km.is_alive(): km.shutdown_kernel(now=True)
    nb.metadata.pop('widgets', None)
    state = run.metadata.get('widgets', {}).get(WIDGET_MIME, {})
    if state.get('state') and has_widget_views(nb): nb.metadata['widgets'] = {WIDGET_MIME: drop_stale_buffers(state)}
    for c in nb.cells:
        if c.cell_type == 'code' and skipped_by_nbdev_test(c.source, flags): c.outputs, c.execution_count = [], None
    return nb

def save_outputs(path:Path|str, timeout:int=900):
    "Run notebook `path` in a kernel and write it back with its outputs and widget state, cleaned by nbdev-clean"
    import nbformat
    nb = execute(path, timeout)
    nbformat.write(nb, str(path))
    subprocess.run([str(Path(sys.executable).parent/'nbdev-clean'), '--fname', str(path)], check=True, cwd=ROOT)

def main(argv=None):
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths: sys.exit('usage: python tools/kernel.py nbs/NN_name.ipynb ... (saves outputs and widget state)')
    for p in paths:
        if not p.exists(): sys.exit(f'No such notebook: {p}')
        save_outputs(p)
        print(f'{p}: outputs and widget state saved from a real kernel')

if __name__ == '__main__': main()
