"""The offline docs site and the README, built from the notebooks in nbs/ (no Quarto needed).

    python tools/docs.py build [--out _site]   # `make docs`: the site, openable with no network
    python tools/docs.py readme                # `make readme`: README.md from nbs/index.ipynb

The published site is Quarto's (`nbdev-docs`, run by .github/workflows/deploy.yaml). Quarto cannot
be installed everywhere, so this build does what `nbdev-docs` does up to the point where Quarto
takes over, then renders with nbconvert instead:
1. `nbdev.serve.proc_nbs` (the `nbdev-proc-nbs` command) runs nbdev's doc processors on every
   notebook into `_proc/`: hidden cells removed, `show_doc` executed and rendered, exported cells
   shown or hidden as nbdev shows them, directives turned into Quarto cell options, the title
   cell turned into front matter, backticked names linked to their docs.
2. Each processed notebook is rendered by nbconvert's HTML exporter (lab template), after the
   Quarto-only syntax is translated: cell options (`echo: false`, `output: false`,
   `include: false`), fenced divs, link attributes. Pages are named as Quarto names them
   (the `output-file` nbdev sets, e.g. `data.html` for `00_data.ipynb`).
3. Every page gets the sidebar (Home, then the lessons 00-08 and the library notebooks 10-18 under their headings), previous/next
   links, its 'Open in Colab' badge, and links between lessons rewritten from `NN_name.ipynb`
   (and from the published site's absolute URLs) to the local pages. Widget state saved in a
   notebook is embedded and rendered by @jupyter-widgets/html-manager, served from the site.
Scripts the pages need (require.js, the widget manager, MathJax 2) are fetched once from the npm
registry with `npm pack` into `$PETLESSON_CACHE/docs-assets` and copied into `<out>/_static`.
"""
from __future__ import annotations
import argparse, copy, html, json, os, re, shutil, subprocess, sys, tarfile, tempfile, time, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from colab import colab_url, COLAB_BADGE_IMG, BADGE_MARK  # noqa: E402

WIDGET_MIME = 'application/vnd.jupyter.widget-state+json'
NPM_ASSETS = {  # npm package -> files to keep (relative to the package folder)
    '@jupyter-widgets/html-manager@1.0.15': ['dist'],
    'requirejs@2.3.8': ['require.js'],
    'mathjax@2.7.9': ['MathJax.js', 'config/TeX-AMS_CHTML-full.js', 'config/Safe.js', 'extensions', 'jax/input/TeX',
                      'jax/output/CommonHTML', 'jax/element', 'fonts/HTML-CSS/TeX/woff', 'LICENSE'],
}

# ---------------------------------------------------------------- configuration and assets
def project_config(root:Path=ROOT)->dict:
    "pyproject.toml as a dict"
    return tomllib.loads((Path(root)/'pyproject.toml').read_text())

def doc_host(root:Path=ROOT)->str:
    "The published docs URL (pyproject's Documentation URL), ending in '/'"
    return project_config(root)['project']['urls']['Documentation'].rstrip('/') + '/'

def notebooks(root:Path=ROOT)->list:
    "Every notebook of the site, in reading order: index first, then the rest by file name"
    nbs = [p for p in sorted((Path(root)/'nbs').glob('*.ipynb')) if not p.name.startswith(('_', '.'))]
    return sorted(nbs, key=lambda p: (p.stem != 'index', p.name))

def assets_dir()->Path:
    return Path(os.environ.get('PETLESSON_CACHE', Path.home()/'.cache'/'petlesson'))/'docs-assets'

def fetch_assets(dest:Path|None=None)->Path:
    "The site's scripts, fetched once with `npm pack` (the npm registry) and cached"
    dest = Path(dest or assets_dir())
    if (dest/'.complete').exists(): return dest
    if not shutil.which('npm'):
        raise RuntimeError(f'The docs need require.js, @jupyter-widgets/html-manager and MathJax 2 in {dest}; '
                           'they are fetched with `npm pack`, and npm is not installed: install Node.js/npm '
                           '(e.g. `apt-get install -y npm`) or copy the folder from a machine that has it.')
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, keep in NPM_ASSETS.items():
            r = subprocess.run(['npm', 'pack', '--silent', spec], cwd=tmp, capture_output=True, text=True)
            if r.returncode: raise RuntimeError(f'`npm pack {spec}` failed (is the npm registry reachable?):\n{r.stderr}')
            tgz = Path(tmp)/r.stdout.strip().splitlines()[-1]
            name = spec.rsplit('@', 1)[0].split('/')[-1]
            with tarfile.open(tgz) as tf:
                members = [m for m in tf.getmembers() if any(m.name == f'package/{k}' or m.name.startswith(f'package/{k}/')
                                                            for k in keep) and not m.name.endswith('.map')]
                tf.extractall(Path(tmp)/name, members=members, filter='data')
            shutil.rmtree(dest/name, ignore_errors=True)
            shutil.move(Path(tmp)/name/'package', dest/name)
    (dest/'.complete').write_text(json.dumps(list(NPM_ASSETS)))
    return dest

# ---------------------------------------------------------------- step 1: nbdev's processors
def process_notebooks(root:Path=ROOT, n_workers:int=2)->Path:
    "Run nbdev's doc processors (what `nbdev-proc-nbs` does) into `_proc/`; cached by modification time"
    from nbdev.serve import proc_nbs
    cwd = os.getcwd()
    os.chdir(root)
    try: return Path(proc_nbs(n_workers=n_workers))
    finally: os.chdir(cwd)

# ---------------------------------------------------------------- step 2: Quarto syntax -> nbconvert
_FM_RE = re.compile(r'^---\s*\n(.*?)\n---\s*$', re.S)
_OPT_RE = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_LINK_ATTR_RE = re.compile(r'\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}')
_DIV_RE = re.compile(r'^\s*:{3,}.*$', re.M)

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def front_matter(nb:dict)->dict:
    "The YAML front matter nbdev's FrontmatterProc put in the first raw cell"
    import yaml
    for c in nb['cells']:
        if c['cell_type'] == 'raw' and (m := _FM_RE.match(_src(c).strip())): return yaml.safe_load(m.group(1)) or {}
    return {}

def _quarto_md(text:str)->str:
    "Markdown with Quarto-only syntax made plain: `[a](u){attrs}` -> <a>, fenced-div lines dropped"
    def link(m):
        attrs = ' '.join(f'{k}="{html.escape(v)}"' for k, v in re.findall(r'([\w-]+)="([^"]*)"', m.group(3)))
        return f'<a href="{html.escape(m.group(2))}" {attrs}>{m.group(1)}</a>'
    return _DIV_RE.sub('', _LINK_ATTR_RE.sub(link, text))

def cell_options(cell)->tuple:
    "Split a code cell's leading `#| key: value` lines into a dict and the rest of the source"
    opts, lines = {}, _src(cell).splitlines()
    while lines and (m := _OPT_RE.match(lines[0])): opts[m.group(1)] = m.group(2).strip('"\''); lines.pop(0)
    while lines and lines[0].startswith('#|'): lines.pop(0)
    return opts, '\n'.join(lines)

def quarto_to_plain(nb:dict, title:str, description:str, badge_html:str)->dict:
    "A copy of processed notebook `nb` that nbconvert renders as Quarto would show it"
    nb = copy.deepcopy(nb)
    cells = []
    for c in nb['cells']:
        if c['cell_type'] == 'raw' and _FM_RE.match(_src(c).strip()): continue
        if c['cell_type'] == 'markdown':
            if BADGE_MARK in _src(c): continue  # the page header carries the badge
            c['source'] = _quarto_md(_src(c))
        elif c['cell_type'] == 'code':
            opts, c['source'] = cell_options(c)
            if opts.get('include') == 'false' or opts.get('echo') == 'false' and opts.get('output') == 'false': continue
            c['metadata'] = {'tags': list(c.get('metadata', {}).get('tags', []))}
            tags = c['metadata']['tags']
            if opts.get('echo') == 'false' or not c['source'].strip(): tags.append('remove_input')
            if opts.get('output') == 'false': tags.append('remove_output')
            for o in c.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if md is not None: o['data']['text/markdown'] = _quarto_md(''.join(md) if isinstance(md, list) else md)
            if 'remove_input' in tags and not c.get('outputs'): continue
        cells.append(c)
    head = f'# {title}' + (f'\n\n<p class="pl-description">{_md_inline(description)}</p>' if description else '')
    cells.insert(0, {'cell_type': 'markdown', 'metadata': {}, 'source': head + '\n\n' + badge_html})
    for i, c in enumerate(cells): c['id'] = f'cell-{i}'
    nb['cells'], nb['nbformat'], nb['nbformat_minor'] = cells, 4, max(nb.get('nbformat_minor', 5), 5)
    nb['metadata']['title'] = title
    w = nb['metadata'].get('widgets', {}).get(WIDGET_MIME)
    if not (w and w.get('state')): nb['metadata'].pop('widgets', None)
    return nb

# ---------------------------------------------------------------- step 3: pages, sidebar, links
SITE_CSS = """
body { margin: 0; }
.pl-sidebar { position: fixed; top: 0; left: 0; bottom: 0; width: 15rem; overflow-y: auto; padding: 1rem;
  box-sizing: border-box; background: #f6f7f9; border-right: 1px solid #dde; font-family: system-ui, sans-serif; }
.pl-sidebar h2 { font-size: 1.1rem; margin: 0 0 .8rem; }
.pl-sidebar ol { list-style: none; padding: 0; margin: 0; }
.pl-sidebar h3 { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: #567; margin: 1rem 0 .3rem; }
.pl-sidebar li a { display: block; padding: .3rem .4rem; color: #234; text-decoration: none; border-radius: 4px; font-size: .92rem; }
.pl-sidebar li a:hover { background: #e5e9f0; }
.pl-sidebar li a.pl-current { background: #dbe6f6; font-weight: 600; }
.pl-main { margin-left: 15rem; padding: 0 1.5rem 2rem; }
.pl-description { font-size: 1.15rem; color: #555; margin-top: -.3rem; }
.jp-RenderedMarkdown pre { background: #f5f5f5; padding: .6em .8em; border-radius: 4px; overflow-x: auto; }
.pl-pager { display: flex; justify-content: space-between; margin: 2rem 1rem; font-family: system-ui, sans-serif; }
@media (max-width: 800px) { .pl-sidebar { position: static; width: auto; } .pl-main { margin-left: 0; } }
"""
BADGE_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="117" height="20" role="img" aria-label="Open in Colab">
<rect width="117" height="20" rx="3" fill="#555"/><rect x="30" width="87" height="20" rx="3" fill="#f9ab00"/>
<rect x="30" width="6" height="20" fill="#f9ab00"/><circle cx="11" cy="10" r="5" fill="none" stroke="#f9ab00" stroke-width="3"/>
<circle cx="20" cy="10" r="5" fill="none" stroke="#f9ab00" stroke-width="3"/>
<text x="73" y="14" fill="#fff" font-family="Verdana,sans-serif" font-size="11" text-anchor="middle">Open in Colab</text></svg>
"""

def _rewrite_links(page:str, names:dict, host:str)->str:
    "Links to `NN_name.ipynb` and to the published site made relative links to the local pages"
    def fix(m):
        url = html.unescape(m.group(2))
        if url.startswith(host): url = url[len(host):] or 'index.html'
        if (n := re.match(r'^(?:\./)?([^/#?:]+)\.ipynb(#.*)?$', url)) and n.group(1) in names:
            url = names[n.group(1)] + (n.group(2) or '')
        url = re.sub(r'^([^/#?:]+)\.html\.md(#.*)?$', r'\1.html\2', url)  # nbdev's llms-friendly links
        return f'{m.group(1)}"{html.escape(url)}"'
    return re.sub(r'(\shref=)"([^"]*)"', fix, page)

def _md_inline(text:str)->str:
    "Escaped `text` with its `code` spans as <code>"
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(text))

SIDEBAR_GROUPS = (('Lessons', '0'), ('Library', '1'))   # (heading, first digit of the notebooks' numbers)

def _sidebar(pages:list, current:str)->str:
    "The site's sidebar: Home, then the lessons (00-09) and the library notebooks (10-19), each under its heading"
    cur = ' class="pl-current" aria-current="page"'
    link = lambda p: f'<li><a href="{p["file"]}"{cur if p["file"] == current else ""}>{_md_inline(p["nav"])}</a></li>'
    top = ''.join(link(p) for p in pages if not p['name'][:1].isdigit())
    groups = ''.join(f'<h3>{head}</h3><ol>{"".join(link(p) for p in found)}</ol>' for head, digit in SIDEBAR_GROUPS
                     if (found := [p for p in pages if p['name'][:1] == digit and p['name'][:2].isdigit()]))
    return f'<nav class="pl-sidebar" aria-label="Lessons and library"><h2><a href="index.html">petlesson</a></h2><ol>{top}</ol>{groups}</nav>'

def _pager(pages:list, i:int)->str:
    prev = f'<a rel="prev" href="{pages[i-1]["file"]}">&larr; {_md_inline(pages[i-1]["nav"])}</a>' if i > 0 else '<span></span>'
    nxt = f'<a rel="next" href="{pages[i+1]["file"]}">{_md_inline(pages[i+1]["nav"])} &rarr;</a>' if i+1 < len(pages) else '<span></span>'
    return f'<nav class="pl-pager">{prev}{nxt}</nav>'

def _badge_html(nb_name:str, root:Path)->str:
    return (f'<a class="pl-colab" href="{colab_url(nb_name, root)}"><img src="_static/colab-badge.svg" '
            f'alt="Open In Colab" width="117" height="20"></a>')

def html_exporter(static:str='_static'):
    "nbconvert's lab-template exporter with every script served from the site itself"
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {'remove_output'}
    ex = HTMLExporter(config=c, template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True,
                      anchor_link_text='¶')
    ex.require_js_url = f'{static}/requirejs/require.js'
    ex.widget_renderer_url = f'{static}/html-manager/dist/embed-amd.js'
    ex.mathjax_url = f'{static}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe'
    return ex

def _lowercase_anchors(page:str)->str:
    "Give each heading with capitals in its id a lower-case anchor too: nbdev links symbols as `page.html#name` in lower case, as Quarto's ids are"
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    def add(m):
        lo = m.group(1).lower()
        if lo in ids: return m.group(0)
        ids.add(lo)
        return f'<a id="{html.escape(lo)}" class="pl-anchor"></a>' + m.group(0)
    return re.sub(r'<h[1-6][^>]*\sid="([^"]+)"[^>]*>', add, page)

def render_page(nb:dict, exporter, sidebar:str='', pager:str='', names:dict|None=None, host:str='')->str:
    "One notebook (already made plain by `quarto_to_plain`) as a full HTML page"
    import nbformat
    body, _ = exporter.from_notebook_node(nbformat.reads(json.dumps(nb), as_version=4))  # reads joins multi-line strings
    body = body.replace('</head>', f'<link rel="stylesheet" href="_static/site.css">\n</head>', 1)
    body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + sidebar + '<div class="pl-main">', body, count=1)
    body = body.replace('</body>', pager + '</div>\n</body>', 1)
    return _rewrite_links(_lowercase_anchors(body), names or {}, host)

def install_static(out:Path, assets:Path):
    "The site's `_static/`: cached npm assets, the stylesheet and the local Colab badge"
    static = Path(out)/'_static'
    if static.exists(): shutil.rmtree(static)
    shutil.copytree(assets, static, ignore=shutil.ignore_patterns('.complete', 'embed.js', 'libembed-amd.js', '*.map'))
    (static/'site.css').write_text(SITE_CSS)
    (static/'colab-badge.svg').write_text(BADGE_SVG)
    # The html-manager's two bundles load their icon fonts (the FileUpload button's, for one) from the folders their
    # AMD module names point to, relative to the page: `@jupyter-widgets/` and `@jupyter-widgets/html-manager/dist/`.
    shutil.rmtree(Path(out)/'@jupyter-widgets', ignore_errors=True)
    for fonts in (Path(out)/'@jupyter-widgets', Path(out)/'@jupyter-widgets'/'html-manager'/'dist'):
        fonts.mkdir(parents=True, exist_ok=True)
        for f in (static/'html-manager'/'dist').iterdir():
            if f.suffix in ('.woff', '.woff2', '.ttf', '.eot', '.svg'): shutil.copy2(f, fonts/f.name)

def build(out:Path|str='_site', root:Path=ROOT, n_workers:int=2, quiet:bool=False)->list:
    "Build the offline site into `out`; return the list of pages (dicts with name, file, title, headings...)"
    t0, root, out = time.perf_counter(), Path(root), Path(root)/out if not Path(out).is_absolute() else Path(out)
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    assets = fetch_assets()
    proc = process_notebooks(root, n_workers)
    log(f'nbdev processors: {time.perf_counter()-t0:.1f}s')
    pages = []
    for src in notebooks(root):
        pnb = json.loads((proc/src.name).read_text())
        fm = front_matter(pnb)
        title = str(fm.get('title') or src.stem)
        pages.append(dict(name=src.stem, src=src, nb=pnb, title=title, description=str(fm.get('description') or ''),
                          file=Path(fm.get('output-file') or f'{src.stem}.html').name,
                          nav='Home' if src.stem == 'index' else title))
    names = {p['name']: p['file'] for p in pages}
    if len(set(names.values())) < len(names): raise RuntimeError(f'Two notebooks would make the same page: {names}')
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    install_static(out, assets)
    for f in proc.rglob('*'):  # images and other files the notebooks link to
        if f.is_file() and f.suffix not in ('.ipynb', '.yml', '.yaml') and not f.name.startswith('.'):
            (out/f.relative_to(proc)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, out/f.relative_to(proc))
    ex, host = html_exporter(), doc_host(root)
    for i, p in enumerate(pages):
        plain = quarto_to_plain(p['nb'], p['title'], p['description'], _badge_html(p['src'].name, root))
        page = render_page(plain, ex, _sidebar(pages, p['file']), _pager(pages, i), names, host)
        (out/p['file']).write_text(page)
        p['widgets'] = bool(plain['metadata'].get('widgets'))
        log(f"  {p['src'].name} -> {out.name}/{p['file']}")
    dangling = sorted({h for p in pages for h in re.findall(r'href="([^"#?:/]+\.ipynb)', (out/p['file']).read_text())})
    if dangling: log(f'WARNING: pages link to notebooks that are not in nbs/: {dangling}')
    manifest = [{k: (str(v) if isinstance(v, Path) else v) for k, v in p.items() if k != 'nb'} for p in pages]
    (out/'pages.json').write_text(json.dumps(manifest, indent=1))
    log(f'{len(pages)} pages in {out} ({time.perf_counter()-t0:.1f}s); open {out/"index.html"}')
    return manifest

def render_one(nb:dict, out:Path, file:str, root:Path=ROOT)->dict:
    "Process one in-memory notebook with nbdev's doc processors and render it into site folder `out`"
    from fastcore.nbio import dict2nb, nb2dict
    from nbdev.processors import FilterDefaults
    out = Path(out)
    if not (out/'_static').exists(): install_static(out, fetch_assets())
    pnb = dict2nb(copy.deepcopy(nb))
    pnb.path_ = str(Path(root)/'nbs'/Path(file).with_suffix('.ipynb').name)
    cwd = os.getcwd(); os.chdir(root)
    try: FilterDefaults()(pnb)
    finally: os.chdir(cwd)
    pnb = json.loads(json.dumps(nb2dict(pnb)))
    fm = front_matter(pnb)
    page = dict(name=Path(file).stem, file=file, title=str(fm.get('title') or Path(file).stem), nav=str(fm.get('title') or file))
    plain = quarto_to_plain(pnb, page['title'], str(fm.get('description') or ''), '')
    (out/file).write_text(render_page(plain, html_exporter(), _sidebar([page], file), '', {}, doc_host(root)))
    return {**page, 'widgets': bool(plain['metadata'].get('widgets'))}

# ---------------------------------------------------------------- README from nbs/index.ipynb
def readme_text(root:Path=ROOT)->str:
    "README.md as generated from nbs/index.ipynb: its markdown and visible code, links made repo-relative"
    nb = json.loads((Path(root)/'nbs'/'index.ipynb').read_text())
    parts = ['<!-- Generated from nbs/index.ipynb by `make readme`: edit the notebook, not this file. -->']
    for c in nb['cells']:
        s = _src(c).strip()
        if c['cell_type'] == 'markdown': parts.append(s.replace(BADGE_MARK + '\n', ''))
        elif c['cell_type'] == 'code' and s and not re.search(r'^#\|\s*(hide|include:\s*false)\b', s, re.M):
            parts.append(f'```python\n{s}\n```')
    text = '\n\n'.join(parts) + '\n'
    return re.sub(r'\]\((?!https?:|#|/)([^)\s]+\.ipynb(?:#[^)]*)?)\)', r'](nbs/\1)', text)

def write_readme(root:Path=ROOT):
    (Path(root)/'README.md').write_text(readme_text(root))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = ap.add_subparsers(dest='cmd')
    b = sub.add_parser('build', help='build the offline site')
    b.add_argument('--out', default='_site', help='site folder (default _site)')
    b.add_argument('--n-workers', type=int, default=int(os.environ.get('NB_WORKERS', 2)))
    sub.add_parser('readme', help='write README.md from nbs/index.ipynb')
    a = ap.parse_args(argv)
    if a.cmd == 'readme': write_readme(); print('wrote README.md from nbs/index.ipynb')
    else:
        try: build(getattr(a, 'out', '_site'), n_workers=getattr(a, 'n_workers', 2))
        except RuntimeError as e: sys.exit(f'docs build failed: {e}')

if __name__ == '__main__': main()
