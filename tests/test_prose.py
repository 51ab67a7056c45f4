"The prose check (tools/prose.py): every number in a notebook's markdown is printed by a cell above it"
import importlib.util, json, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('prose', ROOT/'tools'/'prose.py')
prose = importlib.util.module_from_spec(_spec); sys.modules['prose'] = prose; _spec.loader.exec_module(prose)

def md(text): return dict(cell_type='markdown', metadata={}, source=text)
def code(source='', printed=None, plain=None, html=None):
    outs = []
    if printed is not None: outs.append(dict(output_type='stream', name='stdout', text=printed))
    if plain is not None or html is not None:
        data = {k: v for k, v in (('text/plain', plain), ('text/html', html)) if v is not None}
        outs.append(dict(output_type='execute_result', data=data, metadata={}, execution_count=1))
    return dict(cell_type='code', metadata={}, source=source, outputs=outs, execution_count=None)
def nb(*cells): return dict(cells=list(cells), metadata={}, nbformat=4, nbformat_minor=5)

def unmatched(*cells, quoted=None):
    "The texts of the figures the check reports in a notebook made of `cells`"
    return [u.figure.text for u in prose.check_notebook(nb(*cells), 'x.ipynb', quoted=quoted or {})]

def test_planted_wrong_number_is_reported_with_notebook_cell_and_number():
    cells = [md('# Lesson'), code('err = 0.2973', printed='error rate 0.2973\n'),
             md('The error rate is 0.297, then 0.324.')]
    bad = prose.check_notebook(nb(*cells), '02_first_model.ipynb', quoted={})
    assert [(u.notebook, u.cell, u.figure.text) for u in bad] == [('02_first_model.ipynb', 2, '0.324')]
    line = str(bad[0])
    assert line.startswith('02_first_model.ipynb cell 2:') and "'0.324'" in line and 'The error rate is 0.297, then 0.324' in line

def test_right_numbers_pass():
    out = code(printed='error 0.29730; 32.43% of 298 photos; time 61.2 s; speed-up 1.31x\n')
    assert unmatched(out, md('Error 0.297 (32.4 % of the 298 photos), 61 s, 1.3x faster.')) == []

def test_rounding_rules():
    out = code(printed='values: 0.29730 0.3243 183 s 2700 ms 0.957\n')
    assert unmatched(out, md('0.297, 0.30, 0.3, 32.4 %, 32 %, 3 minutes, 2.7 s, 0.96×.')) == []
    assert unmatched(out, md('0.298 and 0.2972')) == ['0.298', '0.2972']      # rounding, not truncation or "close"
    assert unmatched(code(printed='0.2985\n'), md('It is 0.297.')) == ['0.297']
    assert unmatched(code(printed='epoch time\n0 01:05\n'), md('An epoch takes 65 s, about 1 minute.')) == []
    assert unmatched(code(printed='32 photos\n'), md('32 % of them.')) == ['32 %']   # a count is no share
    assert unmatched(code(printed='0.25\n'), md('A quarter: 25%.')) == []           # a fraction is
    assert unmatched(code(printed='1.3 million? 1,314,304 parameters\n'), md('1.3 million parameters')) == []
    assert unmatched(code(printed='1,214,304 parameters\n'), md('1.3 million parameters')) == ['1.3 million']

def test_only_cells_above_count_and_below_is_a_hint():
    cells = [md('It takes 2.7 s.'), code(printed='2.7 s\n')]
    bad = prose.check_notebook(nb(*cells), 'x.ipynb', quoted={})
    assert [u.figure.text for u in bad] == ['2.7 s'] and bad[0].below == 1 and 'printed below, cell 1' in str(bad[0])

def test_markdown_and_images_are_not_outputs():
    png = dict(output_type='display_data', data={'image/png': 'iVBORw0KGgo0.297', 'text/plain': '<Figure size 640x480>'}, metadata={})
    cells = [md('The loss was 0.297 in the book.'), dict(code(), outputs=[png]), md('Again 0.297.')]
    assert unmatched(*cells) == ['0.297', '0.297']

def test_html_and_error_outputs_count():
    html = '<table><tr><th>error_rate</th></tr><tr><td>0.324324</td></tr></table>'
    err = dict(output_type='error', ename='ValueError', evalue='expected 37 breeds, got 36', traceback=[])
    cells = [code(html=html), dict(code(), outputs=[err]), md('The error rate ends at 0.324; 36 breeds were found.')]
    assert unmatched(*cells) == []

@pytest.mark.parametrize('text', [
    '## 3.5 A heading with 0.5', 'Lesson 05 and lesson 2.1, question 3, section 4.2', 'In 2020 the book said so.',
    '1. first\n2. second', 'Code: `Resize(460)`, `min_scale=0.75`, `lr=3e-3`.', 'A link [0.5 s](https://x.org/0.7) here.',
    'See https://example.org/a/0.297 for more.', 'Maths: $x = 0.5$ and $$y = 0.25$$.', 'fastai 2.7.12 and Python 3.11',
    'a 2 x 3 matrix', '<!-- 0.297 -->', 'It is 460 wide and 37 of them.', 'more than two classes', 'CC BY-SA 4.0',
    '```\n0.297\n```'])
def test_exclusions(text):
    assert unmatched(code(printed='nothing here\n'), md(text)) == []

def test_settings_in_code_above_pass_but_not_small_counts():
    src = 'dls = pets_dataloaders(size=224, min_scale=0.75, valid_pct=0.2, lr=3e-3)  # 0.297 in a comment'
    assert unmatched(code(src), md('At 224 pixels with min_scale 0.75 on 20% of the photos at 3e-3.')) == []
    assert unmatched(code(src), md('It reached 0.297.')) == ['0.297']                # comments are not settings
    assert unmatched(code('n = 2'), md('It takes the two-resampling path.')) == ['two-resampling']

TABLE = ('                       resamplings  PSNR dB\n'
         'presizing                        1   42.302\n'
         'naive                            5   29.687\n'
         'fastai min_scale=0.75            3   39.138\n')

def test_small_counts_must_stand_beside_their_noun():
    assert unmatched(code(printed='threads=2\n' + TABLE), md('The book takes the two-resampling path.')) == ['two-resampling']
    assert unmatched(code(printed=TABLE), md('The book takes the three-resampling path, not 5 resamplings.')) == []
    assert unmatched(code(printed='2 more photos wrong\n'), md('It gets two more photos wrong.')) == []
    assert unmatched(code(printed='wrong: 24, then 26; 2\n'), md('It gets two more photos wrong.')) == ['two more photos']
    assert unmatched(code(printed='labels: 4 breeds -> 2 labels\n'), md('three different breeds collapse')) == ['three different breeds']
    assert unmatched(code(printed='pets: 7390\n'), md('All 7,390 photos.')) == []      # a large count is distinctive alone
    assert unmatched(code(), md('Four photos, two pictures.')) == []                    # a plain number word describes

def test_claims_without_a_number():
    assert unmatched(md('The loss then rises while the error rate holds.')) == ['loss then rises']
    assert unmatched(md('One breed can get a high probability for coffee.')) == ['high probability']
    assert unmatched(md('The PSNR grows with the presize.')) == ['PSNR grows']
    out = code(printed='psnr 42.6 42.5 error 0.297 0.324\n')
    assert unmatched(out, md('The error rate goes from 0.297 to 0.324 while the loss rises.')) == []   # the number is held
    assert unmatched(md('<!-- prose: general -->\nA loss that grows without bound.')) == []

def test_quoted_figures(tmp_path):
    p = tmp_path/'q.toml'
    p.write_text('[[figure]]\nnotebook = "x.ipynb"\nfigure = "224 pixels"\ncontext = "book"\nsource = "the chapter\'s Presizing section"\n')
    q = prose.quoted_figures(p)
    assert unmatched(md("The book trains at 224 pixels."), quoted=q) == []
    assert unmatched(md("We train at 224 pixels."), quoted=q) == ['224 pixels']
    p.write_text('[[figure]]\nnotebook = "x.ipynb"\nfigure = "0.08"\nsource = ""\n')
    with pytest.raises(AssertionError, match='no source'): prose.quoted_figures(p)

def test_quoted_figures_list_is_valid():
    for name, entries in prose.quoted_figures().items():
        assert (ROOT/'nbs'/name).exists(), name
        assert entries

def test_issue_items_4_7_13_as_they_were_written():
    "The sentences that issue 25 found wrong, against the outputs that contradicted them"
    epochs = code(printed='epoch valid_loss error_rate\n0 2.10 0.405\n1 1.62 0.297\n2 1.71 0.324\n')
    item4 = md('When the validation loss bottoms out before the last epoch and then rises while the error rate holds '
               '(compare the lowest value with the last one above), the model is growing more confident.')
    psnr = code(printed="PSNR by presize: {224: 33.2, 280: 36.0, 336: 38.4, 448: 42.6, 460: 42.5, 560: 45.2}\n" + TABLE)
    item7 = md('The PSNR grows with the presize across the whole range tried.\n\n'
               "**So the book's `DataBlock` takes the two-resampling path**: one at the presize, a second for the crop.")
    coffee = code(printed='coffee: Siamese 19.9 %\n')
    item13 = md('Softmax exaggerates the gaps, so one breed can come out with a high probability for a photo of coffee.')
    assert unmatched(epochs, item4, psnr, item7, coffee, item13) == ['error rate holds', 'PSNR grows', 'two-resampling', 'high probability']

def test_command_line(tmp_path, capsys):
    good, bad = tmp_path/'good.ipynb', tmp_path/'bad.ipynb'
    good.write_text(json.dumps(nb(code(printed='0.297\n'), md('It is 0.297.'))))
    bad.write_text(json.dumps(nb(code(printed='0.297\n'), md('It is 0.298.'))))
    assert prose.main([str(good)]) == 0 and capsys.readouterr().out == ''
    assert prose.main([str(good), str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == ["bad.ipynb cell 1: number not printed above: '0.298' in \"It is 0.298.\""]

def test_every_notebook_prose_matches_its_outputs():
    "Fails until the lessons' prose states only what their cells print (issue 25)"
    bad = [u for p in sorted((ROOT/'nbs').glob('*.ipynb')) for u in prose.check_notebook(p)]
    assert not bad, f'{len(bad)} numbers or claims in prose that no cell above prints:\n' + '\n'.join(map(str, bad))
