"""Hold the numbers written in the notebooks' prose against what their cells print.

    python tools/prose.py [NOTEBOOKS...]        # default: every nbs/*.ipynb; exit 1 if a number is unmatched

Every number written in a markdown cell must be printed by a code cell ABOVE it (its saved output:
stream, text/plain, text/html, text/markdown, error messages; never image data), be a setting written
in a code cell above, or be listed in tools/quoted_figures.toml with its source (an entry: notebook,
figure as written, source, and optionally context, a phrase its sentence must hold).

What counts as a number in prose (after dropping headings, code spans and blocks, links, URLs,
LaTeX, HTML tags and comments):
  - a decimal: 0.297, 1e-3 (not versions like 2.7.1, nor "lesson 2.1", "Python 3.11"...)
  - a percentage: 32.4 %, 32.4%
  - a duration: 61 s, 2.7 s, 40 ms, 3 minutes, 1 h
  - a ratio: 1.3x, 0.96×
  - a count: an integer followed (directly or after one word) by a counted noun (`COUNTED`):
    "298 photos", "74 validation photos", "12 breeds", "448 px"; and a number word two..twelve in a
    compound ("the two-resampling path") or in a comparison ("two more photos", "three different
    breeds") with a noun of `WORD_COUNTED` (a plain "four photos" describes a setup far more often
    than it states a result, so it is not checked).
A bare integer ("lesson 05", "question 3", a year, a list item, "Resize 460") is not checked.

How a number is matched:
  - a decimal, percentage, ratio or duration matches an output number that rounds to it at the
    precision written (0.297 matches 0.29730); a percentage only a number printed with % or a printed
    fraction (32.4 % matches 32.43% or 0.3243, not a count of 32); a duration a number printed with a
    time unit (converted: "3 minutes" matches 183 s, "2.7 s" matches 2700 ms, "65 s" matches fastai's
    01:05) or a bare one; the sign is ignored;
  - a count above 12 matches an output integer of that value; a count of 12 or less (common
    everywhere) must stand in the same output line as its noun, or below that noun in the same
    column of a printed table ("two-resampling" needs a 2 under or beside "resampling");
  - any number but a small count matches a literal of the same value in the source of a code cell
    above (a setting: `size=224`, `min_scale=0.75`, `lr=3e-3`), comments left out.

Claims without a number: a sentence in which a measured quantity (loss, error rate, accuracy,
probability, PSNR, SSIM, ECE, NLL, speed-up, gain) stands within a few words of a level or trend word
(high, low, grows, rises, falls, holds, beats, better, faster...) and that holds no checked number is
reported too ("the validation loss ... rises while the error rate holds", "a high probability"): state
the number, which the check then holds. A cell whose claims are general truths, not statements about
this notebook's outputs ("a loss that grows without bound"), carries `<!-- prose: general -->`;
numbers in it are still checked.

What it cannot catch: a claim worded without those words ("across the whole range tried" is caught
only through "PSNR grows"), a number that matches by coincidence some other printed value (more likely
the fewer digits it has), a wrong sign, "one"/"once"/"twice", a plain "four photos", and a number
compared with the wrong output.
"""
from __future__ import annotations
import json, re, sys, tomllib
from dataclasses import dataclass
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUOTED = ROOT/'tools'/'quoted_figures.toml'

COUNTED = ('photo image picture file item jpg jpeg breed class label categor cat dog species mistake error '
           'wrong prediction epoch batch resampl pass layer parameter weight channel feature pixel px draw '
           'core thread worker sample example question').split()
"Stems of the nouns that make an integer before them a count (matched on the start of the word)"
SYNONYMS = [{'photo', 'image', 'picture', 'file', 'item', 'jpg', 'jpeg', 'img'},
            {'mistake', 'error', 'wrong', 'misclass', 'incorrect'},
            {'breed', 'class', 'label', 'categor', 'vocab'},
            {'resampl', 'pass'}]
NUMBER_WORDS = dict(two=2, three=3, four=4, five=5, six=6, seven=7, eight=8, nine=9, ten=10, eleven=11, twelve=12)
SMALL = 12
WORD_COUNTED = {'resampl', 'pass', 'mistake', 'error', 'wrong', 'photo', 'image', 'picture', 'breed', 'label', 'epoch'}
"Nouns a number word must count to be checked (in `two-resampling`, or after more/fewer/different/extra/other)"
NOT_A_FIGURE_BEFORE = {'lesson', 'lessons', 'section', 'chapter', 'figure', 'table', 'version', 'python', 'fastai',
                       'torch', 'pytorch', 'numpy', 'pandas', 'v', 'cuda', 'question', 'questions', 'step', 'item',
                       'jupyter', 'nbdev', 'pillow', 'timm', 'ubuntu', 'macos', 'windows', 'colab', 'ipykernel',
                       'scipy', 'matplotlib', 'sklearn', 'scikit-learn', 'java', 'node', 'version:', 'release',
                       'by-sa', 'sharealike', 'attribution-sharealike'}   # the last three: licences, "CC BY-SA 4.0"
DURATION = {'ms': 1e-3, 'millisecond': 1e-3, 'milliseconds': 1e-3, 's': 1., 'sec': 1., 'secs': 1., 'second': 1.,
            'seconds': 1., 'min': 60., 'mins': 60., 'minute': 60., 'minutes': 60., 'h': 3600., 'hour': 3600., 'hours': 3600.}

NUM = r'\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?'
OUT_NUM = re.compile(r'(?<![\w.])[-+]?(' + NUM + r')(?![\d])')
CODE_NUM = re.compile(r'(?<![\w.])(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?![\w.])')

@dataclass
class Figure:
    "A number written in prose: its text, value, kind and the noun it counts"
    text: str
    value: float
    kind: str          # decimal, percent, duration, ratio, count
    digits: int        # digits after the decimal point as written
    noun: str = ''     # for counts
    unit: float = 1.   # for durations: seconds per unit
    start: int = 0
    end: int = 0

@dataclass
class Unmatched:
    notebook: str
    cell: int
    figure: Figure
    sentence: str
    below: int|None = None   # the first code cell below that prints it, if one does
    def __str__(self):
        what = 'claim without a number' if self.figure.kind == 'claim' else 'number not printed above'
        where = f' (printed below, cell {self.below})' if self.below is not None else ''
        return f'{self.notebook} cell {self.cell}: {what}{where}: {self.figure.text!r} in "{self.sentence}"'

# ---- prose ---------------------------------------------------------------------------------------

def _blank(m): return ' ' * len(m.group(0))

def clean_markdown(md:str)->str:
    "Markdown with what is not prose blanked out (same length, so positions hold)"
    multiline = [r'<!--.*?-->', r'```.*?```', r'~~~.*?~~~', r'\$\$.*?\$\$']
    inline = [r'(?<![\\\w])\$[^$\n]+\$', r'``[^\n]+?``', r'`[^`\n]*`', r'^ {0,3}#{1,6} .*$', r'!?\[[^\]\n]*\]\([^)\n]*\)',
              r'\[[^\]\n]*\]\[[^\]\n]*\]', r'^\s*\[[^\]\n]+\]:.*$', r'https?://\S+', r'<[^>\n]+>', r'&\w+;']
    for s in multiline: md = re.sub(s, _blank, md, flags=re.S)
    for s in inline: md = re.sub(s, _blank, md, flags=re.M)
    return md

def _word_after(text, pos, n=2):
    "Up to `n` words after `pos` (lower case), and the end of each"
    return [(m.group(0).lower(), m.end()) for m in re.finditer(r"[A-Za-z][\w'-]*", text[pos:pos+60])][:n]

def counted_noun(word:str)->str:
    "The `COUNTED` stem `word` starts with, or ''"
    w = word.lower().split('-')[0]
    return next((s for s in COUNTED if w.startswith(s)), '')

def _digits(s:str)->int:
    "Digits after the decimal point as written (1e-3: 3; 2.5e-4: 5)"
    mant, _, exp = s.replace(',', '').lower().partition('e')
    d = len(mant.split('.')[1]) if '.' in mant else 0
    return max(0, d - int(exp or 0))

def find_figures(md:str)->list[Figure]:
    "The numbers in markdown `md` that the check holds (see the module's doc)"
    text, out = clean_markdown(md), []
    for m in re.finditer(r'(?<![\w.\-/:#])(' + NUM + r')(?![\w]|\.\d|\.\w)', text):
        raw, a, b = m.group(1), m.start(), m.end()
        before = re.findall(r"[\w:-]+", text[max(0, a-25):a].lower())
        if before and before[-1] in NOT_A_FIGURE_BEFORE: continue
        if re.match(r'\d+\.\d+\.\d', text[a:b+3]) or re.search(r'\d\.$', text[max(0,a-3):a]): continue  # versions
        value, digits = float(raw.replace(',', '')), _digits(raw)
        rest = text[b:b+20]
        if mm := re.match(r'\s(million|thousand|billion)\b', rest):   # 1.3 million: 1,300,000 give or take 50,000
            k = dict(thousand=3, million=6, billion=9)[mm.group(1)]
            out.append(Figure(raw + mm.group(0), value * 10**k, 'decimal', digits - k, start=a, end=b+mm.end())); continue
        if mm := re.match(r'\s?%', rest):
            out.append(Figure(raw + mm.group(0), value, 'percent', digits, start=a, end=b+mm.end())); continue
        if mm := re.match(r'\s?(?:x|×)(?![\w]|\s*\(?\d)', rest) or re.match(r'\s(?:times)\s(?:faster|slower|as|more|less|smaller|larger|bigger)', rest):
            out.append(Figure(raw + mm.group(0), value, 'ratio', digits, start=a, end=b+mm.end())); continue
        if mm := re.match(r'\s?(ms|s|sec|secs|seconds?|min|mins|minutes?|h|hours?|milliseconds?)(?![\w])', rest):
            out.append(Figure(raw + mm.group(0), value, 'duration', digits, unit=DURATION[mm.group(1)], start=a, end=b+mm.end())); continue
        if '.' in raw or 'e' in raw.lower():
            out.append(Figure(raw, value, 'decimal', digits, start=a, end=b)); continue
        words = _word_after(text, b)
        if words and re.match(r'\s', text[b:b+1] or 'x'):
            for j, (w, e) in enumerate(words):
                if (noun := counted_noun(w)) :
                    out.append(Figure(text[a:b+e].strip(), value, 'count', 0, noun=noun, start=a, end=b+e)); break
                if j == 0 and not re.match(r'\s\w', text[b+e:b+e+2]): break  # only one word may stand between
    words = '|'.join(NUMBER_WORDS)
    for m in re.finditer(rf'\b({words})(?:-(\w+)|\s+(?:more|fewer|different|extra|other)\s+(?:\w+\s+)??(\w+))', text, re.I):
        noun = counted_noun(m.group(2) or m.group(3))
        if noun and noun in WORD_COUNTED:
            out.append(Figure(m.group(0), NUMBER_WORDS[m.group(1).lower()], 'count', 0, noun=noun, start=m.start(), end=m.end()))
    return sorted(out, key=lambda f: f.start)

QUANTITY = r'(?:loss|losses|error rate|error|accuracy|probabilit\w*|psnr|ssim|ece|nll|speed-?up|gain)'
TREND = r'(?:high|low|higher|lower|grows?|rises?|rising|falls?|drops?|holds?|improves?|worsens?|beats?|better|worse|faster|slower)'
CLAIM = re.compile(rf'\b{QUANTITY}\b\W+(?:\w+\W+){{0,3}}?{TREND}\b|\b{TREND}\W+(?:\w+\W+)?{QUANTITY}\b', re.I)
GENERAL = '<!-- prose: general -->'

def find_claims(md:str)->list[Figure]:
    "Sentences that say how a measured quantity behaves (a quantity within a few words of a level or trend word:"
    "'the error rate holds', 'a high probability') without a number that the check could hold"
    if GENERAL in md: return []
    text, out = clean_markdown(md), []
    for m in re.finditer(r'(?:[^.;:!?\n]|[.;:!?](?![*_)]*(?:\s|$)))+(?:[.;:!?][*_)]*|$)', text, re.M):   # sentences ("0.297" is no end)
        if (c := CLAIM.search(m.group(0))) and not find_figures(m.group(0)):
            a = m.start() + c.start()
            out.append(Figure(' '.join(c.group(0).split()), 0., 'claim', 0, start=a, end=m.start() + c.end()))
    return out

def sentence_at(md:str, start:int, end:int)->str:
    "The sentence of `md` around [start, end)"
    a = max([md.rfind(s, 0, start) for s in ('. ', '.\n', '\n\n', ': ', '; ', '\n- ', '\n* ')] + [-2])
    ends = [i for i in (md.find(s, end) for s in ('. ', '.\n', '\n\n', '; ')) if i >= 0]
    z = min(ends) + 1 if ends else len(md)
    s = ' '.join(md[a+2 if a >= 0 else 0:z].split())
    return s if len(s) < 240 else s[:237] + '...'

# ---- outputs -------------------------------------------------------------------------------------

def output_text(cell:dict)->str:
    "The text a code cell printed: streams, text/plain, text/html (tags dropped), text/markdown, errors"
    parts = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': parts.append(''.join(o.get('text', '')))
        elif o.get('output_type') == 'error': parts.append(f"{o.get('ename', '')}: {o.get('evalue', '')}")
        else:
            d = o.get('data', {})
            for mime in ('text/plain', 'text/markdown'):
                if mime in d: parts.append(''.join(d[mime]))
            if 'text/html' in d:
                h = ''.join(d['text/html'])
                h = re.sub(r'<(style|script)\b.*?</\1>', ' ', h, flags=re.S | re.I)
                h = re.sub(r'</(tr|p|div|li|h\d)>|<br\s*/?>', '\n', h, flags=re.I)
                parts.append(unescape(re.sub(r'<[^>]+>', ' ', h)))
    return '\n'.join(parts)

def _stem_group(stem): return next((g for g in SYNONYMS if stem in g), {stem})

class Printed:
    "What the code cells above a point printed (values) and wrote (literals)"
    def __init__(self): self.values, self.literals, self.blocks = [], set(), []
    def add(self, cell:dict):
        src = '\n'.join(re.sub(r'(?<![\'"\w])#.*$', '', l) for l in ''.join(cell.get('source', '')).splitlines())
        for m in CODE_NUM.finditer(src):
            try: self.literals.add(float(m.group(1)))
            except ValueError: pass
        text = output_text(cell)
        if not text.strip(): return
        self.blocks.append(text)
        for m in re.finditer(r'(?<![\d:])(\d+):([0-5]\d)(?![\d:])', text):   # fastai's time column: 01:05 is 65 s
            self.values.append((int(m.group(1)) * 60. + int(m.group(2)), 1.))
        for m in OUT_NUM.finditer(text):
            unit = re.match(r'\s?(%|ms|s|sec|seconds?|min|minutes?|h|hours?)(?![a-z])', text[m.end():m.end()+9])
            unit = unit.group(1) if unit else ''
            if not unit and '.' in m.group(1): unit = '.'   # a printed fraction may be a share: 0.324 is 32.4 %
            try: self.values.append((float(m.group(1).replace(',', '')), DURATION.get(unit, unit)))
            except ValueError: pass

    def _rounds_to(self, target, digits, scale=lambda unit: (1,)):
        "Does a printed value, times one of the scales its unit allows, round to `target` at `digits`?"
        tol = 0.5 * 10. ** -digits * (1 + 1e-9) + 1e-12
        return any(abs(abs(v) * s - target) <= tol for v, u in self.values for s in scale(u))

    def _beside_noun(self, n:int, stem:str)->bool:
        stems = _stem_group(stem)
        for block in self.blocks:
            lines = block.splitlines()
            for i, line in enumerate(lines):
                low = line.lower()
                spans = [(m.start(), m.end()) for s in stems for m in re.finditer(r'[\w%/-]*' + re.escape(s) + r'[\w%/-]*', low)]
                if not spans: continue
                nums = lambda l: [(m.start(), m.end()) for m in re.finditer(r'(?<![\w.])\d+(?:\.\d+)?(?![\w]|\.\d)', l)
                                  if float(m.group(0)) == n]
                if nums(line): return True
                for below in lines[i+1:]:   # a table: the number under the noun, in the same column
                    if not below.strip(): break
                    if any(a < e and b > s for a, b in nums(below) for s, e in spans): return True
        return False

    def matches(self, f:Figure)->bool:
        "Is `f` printed above (at the precision written), or written as a literal in the code above?"
        v = abs(f.value)
        if v in self.literals and not (f.kind == 'count' and v <= SMALL): return True
        if f.kind == 'percent' and v / 100 in self.literals: return True   # 20 % for valid_pct=0.2
        return self.matches_output(f)

    def matches_output(self, f:Figure)->bool:
        "Is `f` printed (at the precision written)?"
        v = abs(f.value)
        if f.kind == 'count':
            if v > SMALL: return any(abs(x) == v for x, _ in self.values)
            return self._beside_noun(int(v), f.noun)
        if f.kind == 'percent':   # 32.4 % is printed as 32.4 % or 32.43 %, or as the fraction 0.324
            return self._rounds_to(v, f.digits, lambda u: {'%': (1,), '.': (100,)}.get(u, ()))
        if f.kind == 'decimal': return self._rounds_to(v, f.digits, lambda u: (1, 0.01) if u == '%' else (1,))
        if f.kind == 'ratio': return self._rounds_to(v, f.digits)
        if f.kind == 'duration':
            return self._rounds_to(v, f.digits, lambda u: (u / f.unit,) if isinstance(u, float) else (1,))
        return False

# ---- notebooks -----------------------------------------------------------------------------------

def quoted_figures(path:Path=QUOTED)->dict:
    "{notebook name: [(figure text, context or ''), ...]} from the quoted-figures list (each entry with its source)"
    if not Path(path).exists(): return {}
    out = {}
    for e in tomllib.loads(Path(path).read_text())['figure']:
        assert e.get('source'), f'{e} gives no source'
        out.setdefault(e['notebook'], []).append((str(e['figure']).strip(), e.get('context', '')))
    return out

def is_quoted(listed, f:Figure, sentence:str)->bool:
    "Is `f` a listed figure of this notebook (in a sentence holding the entry's `context`, if it gives one)?"
    return any(f.text == fig and ctx.lower() in sentence.lower() for fig, ctx in listed)

def check_notebook(nb:dict|str|Path, name:str|None=None, quoted:dict|None=None)->list[Unmatched]:
    "Every number in `nb`'s markdown that no code cell above prints (and that is not a listed quoted figure)"
    if not isinstance(nb, dict):
        name = name or Path(nb).name
        nb = json.loads(Path(nb).read_text())
    name = name or '<notebook>'
    listed = (quoted if quoted is not None else quoted_figures()).get(name, [])
    printed, bad = Printed(), []
    for i, cell in enumerate(nb['cells']):
        if cell['cell_type'] == 'code': printed.add(cell); continue
        if cell['cell_type'] != 'markdown': continue
        md = ''.join(cell['source'])
        figures = [f for f in find_figures(md) if not (printed.matches(f) or is_quoted(listed, f, sentence_at(md, f.start, f.end)))]
        bad += [Unmatched(name, i, f, sentence_at(md, f.start, f.end)) for f in sorted(figures + find_claims(md), key=lambda f: f.start)]
    for u in bad:   # a hint for the fix: the number may be printed by a cell further down
        if u.figure.kind == 'claim': continue
        later = Printed()
        for j, cell in enumerate(nb['cells'][u.cell+1:], u.cell + 1):
            if cell['cell_type'] == 'code':
                later.add(cell)
                if later.matches_output(u.figure): u.below = j; break
    return bad

def main(argv=None)->int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted((ROOT/'nbs').glob('*.ipynb'))
    quoted, bad = quoted_figures(), []
    for p in paths: bad += check_notebook(p, quoted=quoted)
    for u in bad: print(u)
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
