"""Give every notebook in nbs/ its Colab setup cell and its 'Open in Colab' badge.

    python tools/colab.py nbs/03_cross_entropy.ipynb ...   # or: make colab (every notebook in nbs/)

Each notebook gets, right after its title cell:
1. a markdown cell with the 'Open in Colab' badge for that notebook;
2. as its first code cell, `SETUP_SOURCE`: in Google Colab it pip-installs petlesson from the
   repository in `pyproject.toml`; anywhere else it does nothing. It is marked `#| hide`, so the
   docs site does not show it (the docs pages carry the badge instead).
Running it again changes nothing; an older version of either cell is replaced, not duplicated.
"""
from __future__ import annotations
import json, re, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLAB_BADGE_IMG = 'https://colab.research.google.com/assets/colab-badge.svg'
SETUP_MARK = '# Colab setup:'
BADGE_MARK = '<!-- colab-badge -->'

def repo_url(root:Path=ROOT)->str:
    "The repository URL from `[project.urls]` in pyproject.toml, without a trailing slash or .git"
    cfg = tomllib.loads((Path(root)/'pyproject.toml').read_text())
    url = cfg.get('project', {}).get('urls', {}).get('Repository')
    if not url: raise ValueError('pyproject.toml has no [project.urls] Repository: add the GitHub URL there')
    return re.sub(r'(\.git)?/*$', '', url)

def colab_url(nb_name:str, root:Path=ROOT, branch:str='main')->str:
    "The URL that opens nbs/`nb_name` from the repository's `branch` in Google Colab"
    m = re.match(r'https://github\.com/([^/]+/[^/]+)$', repo_url(root))
    if not m: raise ValueError(f'Colab opens notebooks from GitHub only; the Repository URL is {repo_url(root)}')
    return f'https://colab.research.google.com/github/{m.group(1)}/blob/{branch}/nbs/{Path(nb_name).name}'

def setup_source(root:Path=ROOT)->str:
    "The source of the setup cell: install petlesson in Colab, do nothing elsewhere"
    return (f"#| hide\n{SETUP_MARK} in Google Colab this installs petlesson; anywhere else it does nothing.\n"
            "import sys\n"
            "if 'google.colab' in sys.modules:\n"
            "    import subprocess\n"
            f"    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'petlesson @ git+{repo_url(root)}'], check=True)")

def badge_markdown(nb_name:str, root:Path=ROOT)->str:
    "The markdown cell with the 'Open in Colab' badge for nbs/`nb_name`"
    return f'{BADGE_MARK}\n[![Open In Colab]({COLAB_BADGE_IMG})]({colab_url(nb_name, root)})'

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _cell(kind, source):
    c = {'cell_type': kind, 'metadata': {}, 'source': source}
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return c

def add_colab_cells(nb:dict, nb_name:str, root:Path=ROOT)->bool:
    "Insert or refresh the badge and setup cells of notebook `nb` (a dict); True if it changed"
    key = lambda cs: [(c['cell_type'], _src(c)) for c in cs]
    before = key(nb['cells'])
    cells = [c for c in nb['cells'] if not (c['cell_type'] == 'code' and SETUP_MARK in _src(c))
             and not (c['cell_type'] == 'markdown' and BADGE_MARK in _src(c))]
    first = next((i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and _src(c).lstrip().startswith('# ')), None)
    if first is None: raise ValueError(f'{nb_name}: no title cell (a markdown cell starting with "# Title") to put the badge under')
    cells[first+1:first+1] = [_cell('markdown', badge_markdown(nb_name, root)), _cell('code', setup_source(root))]
    if key(cells) == before: return False
    nb['cells'] = cells
    return True

def add_colab_to_file(path:Path, root:Path=ROOT)->bool:
    "Add the Colab cells to the notebook file at `path` in place (nbformat JSON, 1-space indent as nbdev writes it)"
    path = Path(path)
    nb = json.loads(path.read_text())
    changed = add_colab_cells(nb, path.name, root)
    if changed: path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + '\n')
    return changed

def main(argv=None):
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted((ROOT/'nbs').glob('*.ipynb'))
    for p in paths:
        if not p.exists(): sys.exit(f'No such notebook: {p}')
        print(f"{p}: {'added the Colab cells' if add_colab_to_file(p) else 'already has the Colab cells'}")

if __name__ == '__main__': main()
