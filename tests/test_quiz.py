"The questionnaire (petlesson.quiz): every question answered, pointed and computed; the checker right on right and wrong answers."
import json, re
import pytest
from petlesson.quiz import (QUESTIONS, LESSONS, RESEARCH, check_answer, question, computing_cells, quiz_widget,
                            recipe_commands, compare_to_book, normalise)

def test_every_question_has_answer_pointer_and_computing_cell(root):
    nb = root/'nbs'/'06_questionnaire.ipynb'
    cells = computing_cells(nb)
    assert list(QUESTIONS) == [f'q{i:02d}' for i in range(1, 24)]
    for q in QUESTIONS.values():
        assert q.text.strip() and q.answer.strip(), q.qid
        assert q.lesson in LESSONS and q.section.strip(), q.qid
        assert (q.qid in cells) == q.computed, f'{q.qid}: computed={q.computed} but computing cells {cells.get(q.qid)}'
    assert sum(q.computed for q in QUESTIONS.values()) >= 18
    assert set(RESEARCH) == {'r1', 'r2'} and all(t.steps and t.lesson in LESSONS for t in RESEARCH.values())

def test_committed_computing_cells_ran_cleanly(root):
    nb = json.loads((root/'nbs'/'06_questionnaire.ipynb').read_text())
    for qid, idxs in computing_cells(root/'nbs'/'06_questionnaire.ipynb').items():
        for i in idxs:
            outs = nb['cells'][i].get('outputs', [])
            assert outs, f'{qid}: computing cell {i} has no saved output (run nbdev-test --save)'
            assert not any(o.get('output_type') == 'error' for o in outs), f'{qid}: cell {i} saved an error'

def _headings(nb_path):
    nb = json.loads(nb_path.read_text())
    return [normalise(l.lstrip('#')) for c in nb['cells'] if c['cell_type'] == 'markdown'
            for l in ''.join(c['source']).splitlines() if l.startswith('#')]

def test_pointers_name_real_sections_where_the_lesson_exists(root):
    "A pointer must name a heading of its lesson, once that lesson's notebook is in the repository"
    missing = []
    for q in list(QUESTIONS.values()) + list(RESEARCH.values()):
        nbs = list((root/'nbs').glob(f'{q.lesson}*.ipynb'))
        if not nbs: continue
        if not any(normalise(q.section) in h for h in _headings(nbs[0])): missing.append(f'{q.lesson}: {q.section}')
    assert not missing, f'pointers to sections that do not exist: {missing}'

RIGHT = [
    ('q01', 'So that rotations and zooms have a margin and no empty corners, and all augmentations are done in one interpolation on the GPU, which is fast.'),
    ('q02', r'^(.+)_\d+\.jpg$'), ('q02', r"r'(.+)_\d+\.jpg$'"),
    ('q03', 'Individual files, possibly in folders, or a table such as a CSV file.'),
    ('q04', '0, 6, 12, 18'), ('q04', [0, 6, 12, 18]),
    ('q05', 'great_pyrenees_173'), ('q05', "'great_pyrenees_173'"),
    ('q06', 'Rotating leaves empty black corners, and interpolation blurs the image.'),
    ('q06', 'cropping can cut off the subject; squishing distorts the aspect ratio'),
    ('q07', 'show_batch'), ('q07', 'dls.show_batch()'),
    ('q08', 'summary'), ('q08', 'DataBlock.summary'),
    ('q09', 'no'),
    ('q10', 'softmax and negative log likelihood'), ('q10', 'log_softmax followed by nll_loss'),
    ('q11', 'All activations are between 0 and 1 and they sum to 1, so they act as probabilities.'),
    ('q11', 'They are positive and add up to one: each exponential is divided by the sum of all exponentials, not their count.'),
    ('q12', 'multi-label classification'), ('q12', "When an image can be none of these classes"),
    ('q12', 'When an image can belong to several categories at once'),
    ('q12', 'when an image could contain both a cat and a dog'),
    ('q17', 'It trains the head for one epoch, then the whole model for the other epochs.'),
    ('q13', '0.22, 0.02, 0.76'), ('q13', [0.2221, 0.018, 0.7599]),
    ('q14', 'torch.where only selects between two options, so it only works for binary targets.'),
    ('q15', 'It is undefined (nan): the log of a negative number is not a real number.'),
    ('q15', 'math.log raises an error, numpy and torch give nan'),
    ('q16', 'One order of magnitude below the minimum loss, or the point where the loss decreases most steeply.'),
    ('q16', 'the steepest slope; or the minimum divided by 10'),
    ('q17', 'It trains the new head with the body frozen for one epoch, then unfreezes and trains the whole model.'),
    ('q18', '??fine_tune'), ('q18', 'inspect.getsource(f)'),
    ('q19', 'Using different learning rates for different layers: lower for the early layers, higher for the head.'),
    ('q20', '1e-6, 1e-5, 1e-4'), ('q20', [1e-6, 1.0e-5, 1e-4]),
    ('q21', 'The learning rate is still high in the middle epochs; the best results come at the end, when it has become small.'),
    ('q22', 'resnet101 has 101 layers, resnet50 has 50: it is deeper.'),
    ('q21', 'No. The learning rate is still high in the middle epochs.'),
    ('q10', 'not only softmax: also the negative log likelihood'),
    ('q12', 'multi-label data, not multi-class data'),
    ('q23', 'It enables mixed precision training, using half-precision (fp16) floats where possible to go faster and save memory.'),
]

WRONG = [   # (qid, response, words the explanation must contain)
    ('q07', 'one_batch', 'returns one batch of tensors'), ('q07', 'dls.one_batch()', 'returns one batch'),
    ('q11', 'softmax divides each exponential by the count of exponentials, so they are between 0 and 1 and sum to 1', 'SUM'),
    ('q11', 'They are normalised by the number of classes so they sum to 1 and are positive', 'SUM'),
    ('q12', 'non-binary cases', 'exactly what softmax is for'), ('q12', 'For multi-class problems', 'exactly what softmax is for'),
    ('q12', 'when there are more than two categories', 'exactly what softmax is for'),
    ('q13', [1.02 / 3, 0.08 / 3, 3.49 / 3], 'number of classes'), ('q13', '1.02, 0.08, 3.49', 'exp column'),
    ('q02', r'(.+)_\d+.jpg$', 'unescaped'), ('q02', r'^([a-zA-Z]+)_', 'not'), ('q02', r'.+_\d+\.jpg$', 'no group'),
    ('q04', '0, 3, 6, 9', 'filter alone'), ('q05', 'great_pyrenees_173.jpg', 'p.name'),
    ('q08', 'show_batch', 'show_batch'), ('q09', 'yes', 'baseline'),
    ('q10', 'predictions and targets', 'Missing'),
    ('q15', '-0.693', '-log(2)'), ('q16', 'the learning rate with the minimum loss', 'divide'),
    ('q17', 'it trains for two epochs', 'Missing'), ('q18', '?fine_tune', 'two show the source'),
    ('q19', 'a learning rate that decreases every epoch', 'schedule'),
    ('q20', '1e-6, 5.05e-5, 1e-4', 'log scale'), ('q20', '1e-5, 1e-5, 1e-4', 'slice(1e-4)'),
    ('q21', 'because it takes too long', 'Missing'), ('q22', 'resnet101 was trained on a different dataset', 'a right answer says'),
    ('q23', 'It converts the weights to fp16', 'weights stay float32'),
    ('q01', 'To save disk space', 'Missing'), ('q03', 'Images and labels', 'Missing'),
    ('q06', 'It makes the images bigger', 'Missing'), ('q14', 'Because torch.where is too slow', 'a right answer says'),
]

@pytest.mark.parametrize('qid,response', RIGHT)
def test_checker_accepts_right_answers(qid, response):
    v = check_answer(qid, response)
    assert v.right, f'{qid}: {response!r} rejected: {v.message}'

@pytest.mark.parametrize('qid,response,why', WRONG)
def test_checker_rejects_known_wrong_answers(qid, response, why):
    v = check_answer(qid, response)
    assert not v.right, f'{qid}: {response!r} accepted'
    assert why in v.message, f'{qid}: message {v.message!r} does not explain ({why!r})'

def test_every_question_has_a_right_and_a_wrong_case():
    assert {q for q, _ in RIGHT} == set(QUESTIONS)
    assert len({q for q, *_ in WRONG}) >= 20

def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match='Unknown question'): check_answer('q0', 'x')
    with pytest.raises(TypeError, match='must be a string'): check_answer('q01', 42)
    with pytest.raises(TypeError, match='Give numbers as text'): check_answer('q13', None)
    assert 'type an answer first' in check_answer('q01', '   ').message
    assert 'Pick one of' in check_answer('q07', 'plot it').message
    assert question(7) is question('q07') is QUESTIONS['q07']

def test_widget_driven_like_a_reader():
    quiz = quiz_widget(['q12', 'q13', 'q20'])
    c12, c13, c20 = quiz.cards
    c12.input.value = 'non-binary cases'; c12.check_button.click()
    assert '✗' in c12.feedback.value and c12.answer.value == ''
    c12.reveal_button.click()
    assert 'multi-label' in c12.answer.value and '03_cross_entropy' in c12.answer.value
    c13.input.value = '0.22, 0.02, 0.76'; c13.check_button.click()
    c20.input.value = '1e-6 1e-5 1e-4'; c20.check_button.click()
    assert '✓' in c13.feedback.value and quiz.score() == (2, 3)

def test_recipe_commands_parse_with_the_cli():
    from petlesson.cli import make_parser
    parser = make_parser()
    known = {a for act in parser._actions for a in act.option_strings}
    needed = {a for cmd in recipe_commands() for a in cmd if a.startswith('--')}
    if not needed <= known: pytest.skip(f'the petlesson command does not have {sorted(needed - known)} yet')
    for cmd in recipe_commands(): parser.parse_args(cmd[1:])

def test_compare_to_book():
    assert 'does not beat' not in compare_to_book(0.05)
    assert 'cannot be compared' in compare_to_book(0.05, 'sample')
    with pytest.raises(ValueError, match='fraction'): compare_to_book(8.0)
