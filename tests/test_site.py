"""The offline docs site (`make docs`), opened in a real browser: headless Chromium driven by Playwright.

Screenshots of every page land in `screenshots/` at the repository root (gitignored)."""
import functools, html, http.server, json, os, re, shutil, sys, threading
from pathlib import Path
from urllib.parse import urljoin, urlparse, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import docs  # noqa: E402
from colab import colab_url  # noqa: E402

SITE, SHOTS = ROOT/'_site', ROOT/'screenshots'
CHROMIUM = (os.environ.get('PETLESSON_CHROMIUM') or next(filter(None, map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome'))), None)
            or '/usr/bin/chromium')  # Debian's chromium here; GitHub's Ubuntu runners have google-chrome
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run']
NB_NAMES = [p.stem for p in docs.notebooks()]

@pytest.fixture(scope='session')
def site():
    "Build the site into _site/ (nbdev's processing is cached in _proc/, so a second build is quick)"
    return {p['name']: p for p in docs.build(SITE, quiet=True)}

def test_every_notebook_has_a_page(site):
    test_names = sorted(site)
    assert test_names == sorted(NB_NAMES)
    for p in site.values(): assert (SITE/p['file']).is_file(), p
    assert site['index']['file'] == 'index.html'
    # pages are named as nbdev names them for Quarto: the notebook's name without its number
    for p in site.values(): assert p['file'] == re.sub(r'^\d+_', '', p['name']) + '.html', p

def test_processed_pages_hide_what_nbdev_hides(site):
    "nbdev's processors ran: hidden cells and directives gone, show_doc rendered"
    for p in site.values():
        page = (SITE/p['file']).read_text()
        assert '#| ' not in page and '#|hide' not in page, f"{p['file']} still shows a directive"
        assert 'from nbdev.showdoc import show_doc' not in page, f"{p['file']} shows a hidden cell"
    cli = (SITE/site['18_command']['file']).read_text()
    assert '<h3 id="data_step"' in cli, 'show_doc(data_step) was not rendered as a heading'

# ---------------------------------------------------------------- the browser
def _chromium_or_skip():
    if not Path(CHROMIUM).exists():
        pytest.skip(f'Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` (.ci/run does)')
    try: import playwright.sync_api  # noqa: F401
    except ImportError: pytest.skip('the playwright Python package is not installed (pip install playwright)')

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

@pytest.fixture(scope='session')
def server(site):
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(SITE)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown()

@pytest.fixture(scope='session')
def browser():
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()

def _open(browser, url):
    "A page at `url` with the network closed to everything but the local server; returns (page, problems)"
    ctx = browser.new_context(viewport={'width': 1280, 'height': 900})
    host = urlparse(url).netloc
    ctx.route('**/*', lambda r: r.continue_() if urlparse(r.request.url).netloc == host or r.request.url.startswith('data:')
              else r.abort())
    page, problems = ctx.new_page(), []
    page.on('pageerror', lambda e: problems.append(f'JavaScript error: {e}'))
    page.on('requestfailed', lambda r: problems.append(f'request failed (external or missing): {r.url[:120]}'))
    page.on('response', lambda r: r.status >= 400 and problems.append(f'HTTP {r.status}: {r.url}'))
    page.goto(url, wait_until='networkidle')
    return page, problems

def _plain(md_text):
    "Heading markdown as the browser shows it"
    t = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', md_text)
    return re.sub(r'\s+', ' ', re.sub(r'[`*]|<[^>]+>', '', t)).strip()

def _expected_headings(src):
    nb = json.loads(Path(src).read_text())
    hs = []
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        s = ''.join(c['source'])
        hs += [_plain(h) for h in re.findall(r'^#{2,4}\s+(.+?)\s*$', re.sub(r'```.*?```', '', s, flags=re.S), re.M)]
    return hs

def saved_widget_views(nb:dict)->int:
    "How many widget outputs of notebook `nb` have their model in the saved widget state"
    state = nb.get('metadata', {}).get('widgets', {}).get(docs.WIDGET_MIME, {}).get('state', {})
    return sum(o.get('data', {}).get('application/vnd.jupyter.widget-view+json', {}).get('model_id') in state
               for c in nb['cells'] for o in c.get('outputs', []))

def _wait_for_widgets(page, src):
    "Wait until the html-manager has rendered a view for every widget output with saved state"
    n = saved_widget_views(json.loads(Path(src).read_text()) if not isinstance(src, dict) else src)
    assert n >= 1, 'the page embeds widget state but no widget output refers to it'
    page.wait_for_function(f'document.querySelectorAll(".widget-subarea > .lm-Widget").length >= {n}', timeout=20000)

def _shown(text): return re.sub(r'\s+', ' ', text.replace('¶', '')).strip()

@pytest.mark.parametrize('name', NB_NAMES)
def test_page_in_browser(name, site, server, browser):
    p = site[name]
    page, problems = _open(browser, server + p['file'])
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS/f"{p['file'].removesuffix('.html')}.png"), full_page=True)
    # title and headings
    test_h1 = _shown(page.locator('.pl-main h1').first.inner_text())
    assert test_h1 == _plain(p['title']), f'{p["file"]}: title {test_h1!r}, expected {p["title"]!r}'
    shown = {_shown(t) for t in page.locator('.pl-main h2, .pl-main h3, .pl-main h4').all_inner_texts()}
    missing = [h for h in _expected_headings(p['src']) if h not in shown]
    assert not missing, f'{p["file"]}: headings not on the page: {missing}'
    # figures load
    imgs = page.evaluate('Array.from(document.images).map(i => [i.getAttribute("src").slice(0, 60), i.complete, i.naturalWidth])')
    broken = [i for i in imgs if not (i[1] and i[2] > 0)]
    assert not broken, f'{p["file"]}: images that did not load: {broken}'
    nb = json.loads(Path(p['src']).read_text())
    n_figs = sum('image/png' in o.get('data', {}) for c in nb['cells'] for o in c.get('outputs', []))
    assert len(imgs) >= min(n_figs, 1), f'{p["file"]}: the notebook has {n_figs} figures, the page shows {len(imgs)} images'
    # no raw tracebacks
    text = page.locator('body').inner_text()
    for bad in ('Traceback (most recent call last)', '----> ', '\x1b['):
        assert bad not in text, f'{p["file"]} shows a raw traceback ({bad!r})'
    assert not re.search(r"\\n'\]", text), f'{p["file"]} shows an output as a Python list of lines'
    # the sidebar lists every page, in order, and the Colab badge opens this notebook
    nav = page.locator('.pl-sidebar li a').evaluate_all('as => as.map(a => a.getAttribute("href"))')
    assert nav == [site[n]['file'] for n in NB_NAMES]
    assert '`' not in page.locator('.pl-sidebar').inner_text(), 'raw markdown in the sidebar'
    assert page.locator(f'a[href="{colab_url(Path(p["src"]).name)}"]').count() >= 1, f'{p["file"]}: no Open in Colab link'
    # widget state saved in the notebook renders
    if p['widgets']: _wait_for_widgets(page, p['src'])
    assert not problems, f'{p["file"]}: ' + '; '.join(problems)
    page.context.close()

def test_links_between_pages_resolve(site, server, browser):
    "Every local link on every page leads to a page that exists, and to the anchor it names"
    ctx = browser.new_context()
    bodies, checked = {}, 0
    def body(path):
        if path not in bodies:
            r = ctx.request.get(server + path)
            bodies[path] = r.text() if r.ok else None
        return bodies[path]
    bad = []
    for p in site.values():
        for href in re.findall(r'<a\s[^>]*?href="([^"]*)"', body(p['file'])):
            url = urljoin(server + p['file'], html.unescape(href))
            if not url.startswith(server): continue
            u = urlparse(url)
            path = unquote(u.path.lstrip('/')) or 'index.html'
            target = body(path)
            checked += 1
            if target is None: bad.append(f'{p["file"]}: {href} -> missing page'); continue
            if u.fragment and path.endswith('.html') and not re.search(fr'id="{re.escape(u.fragment)}"', target):
                bad.append(f'{p["file"]}: {href} -> no anchor #{u.fragment}')
    ctx.close()
    assert checked >= 2 * len(site), f'only {checked} local links found'
    assert not bad, '\n'.join(sorted(set(bad)))

def test_lesson_links_are_rewritten(site):
    "No page links to a notebook file or to the published site: the offline site links to itself"
    for p in site.values():
        hrefs = re.findall(r'href="([^"]*)"', (SITE/p['file']).read_text())
        assert not [h for h in hrefs if h.endswith('.ipynb') and 'colab.research.google.com' not in h and 'github.com' not in h]
        assert not [h for h in hrefs if h.startswith(docs.doc_host())]

# ---------------------------------------------------------------- saved widget state
@pytest.fixture(scope='session')
def widget_page(tmp_path_factory):
    "tests/fixtures/widget_slider.ipynb run in a real kernel with its widget state stored, rendered as a page"
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(ROOT/'tests'/'fixtures'/'widget_slider.ipynb', as_version=4)
    NotebookClient(nb, timeout=120, kernel_name='python3', store_widget_state=True,
                   resources={'metadata': {'path': str(ROOT)}}).execute()
    state = nb.metadata['widgets']['application/vnd.jupyter.widget-state+json']['state']
    sliders = [s['state'] for s in state.values() if s['model_name'] == 'IntSliderModel']
    assert [s['value'] for s in sliders] == [7], 'the kernel did not store the slider state'
    out = tmp_path_factory.mktemp('widget_site')
    nbd = json.loads(nbformat.writes(nb))
    info = docs.render_one(nbd, out, 'widget_slider.html')
    assert info['widgets'] and saved_widget_views(nbd) == 1
    return out, nbd

def test_saved_widget_state_renders(widget_page, browser):
    site_dir, nbd = widget_page
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(site_dir)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        page, problems = _open(browser, f'http://127.0.0.1:{httpd.server_address[1]}/widget_slider.html')
        _wait_for_widgets(page, nbd)
        page.wait_for_selector('.mjx-chtml', timeout=20000)  # MathJax, served from the site, typeset the formula
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS/'widget_slider.png'), full_page=True)
        assert _shown(page.locator('.widget-slider .widget-label').first.inner_text()) == 'Epochs'
        readout = page.locator('.widget-slider .widget-readout').first
        assert _shown(readout.inner_text() or readout.input_value()) == '7', 'the slider shows its initial value, not the saved one'
        assert not problems, '; '.join(problems)
        page.context.close()
    finally: httpd.shutdown()
