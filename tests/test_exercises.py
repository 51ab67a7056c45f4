"The lessons' exercise API (petlesson.grading's Exercise and ExerciseCard, petlesson.questions' bank) and lesson 06's layout: questions first, answers after."
import json, re
import pytest
from petlesson.grading import Exercise, ExerciseCard, Numbers, Verdict
from petlesson.questions import EXERCISES, add_exercise, check_exercise, exercise, exercises, get_exercise, try_it

def test_every_exercise_is_well_formed():
    assert EXERCISES, 'the bank holds at least the worked example'
    for eid, ex in EXERCISES.items():
        assert eid == ex.eid and re.fullmatch(r'0[0-5]\.[a-z][a-z0-9_]*', eid), eid
        assert ex.prompt.strip() and ex.solution.strip(), eid
        assert exercises(ex.lesson).count(eid) == 1

def test_worked_example_right_and_wrong():
    right = check_exercise('03.softmax', '0.70, 0.09, 0.21')
    assert isinstance(right, Verdict) and right.ok is True and right.right is True and right.message == 'Right.'
    assert check_exercise('03.softmax', [0.6961, 0.0942, 0.2097]).ok is True
    wrong = check_exercise('03.softmax', '1.49, 0.20, 0.45')          # the exps divided by 3
    assert wrong.ok is False and 'number of classes' in wrong.message
    assert check_exercise('03.softmax', '0.82, 0.38, 0.57').ok is False  # sigmoid
    hinted = check_exercise('03.softmax', 'sigmoid gives 0.8, 0.4, 0.6')
    assert hinted.ok is False and 'Hint:' in hinted.message
    empty = check_exercise('03.softmax', '  ')
    assert empty.ok is None and not empty.attempted

def test_card_driven_like_a_reader():
    card = exercise('03.softmax')
    assert isinstance(card, ExerciseCard) and try_it is exercise
    card.input.value = '1.49, 0.20, 0.45'; card.check_button.click()
    assert '✗' in card.feedback.value and card.solution.value == ''
    card.input.value = '0.70, 0.09, 0.21'; card.check_button.click()
    assert '✓' in card.feedback.value and card.verdict.ok
    card.solution_button.click()
    assert '0.70, 0.09, 0.21' in card.solution.value
    bundle = card._repr_mimebundle_()
    assert '<details>' in bundle['text/html'] and 'application/vnd.jupyter.widget-view+json' in bundle
    card.box.close()

def test_bad_ids_and_duplicates():
    with pytest.raises(ValueError, match='Unknown exercise'): check_exercise('03.nope', '1')
    with pytest.raises(ValueError, match="'<lesson>.<name>'"): Exercise('softmax', 'p', Numbers((1.,)), 's')
    with pytest.raises(ValueError, match='already an exercise'): add_exercise(get_exercise('03.softmax'))
    with pytest.raises(TypeError, match='takes an Exercise'): add_exercise('03.x')

def _cells(root, name): return json.loads((root/'nbs'/name).read_text())['cells']

def test_lesson_06_asks_before_it_answers(root):
    cells = _cells(root, '06_questionnaire.ipynb')
    src = [''.join(c['source']) for c in cells]
    assert not any(re.search(r'^#\|\s*(default_exp|export)', s, re.M) for s in src), 'lesson 06 exports nothing'
    first_q = next(i for i, s in enumerate(src) if "show_question(qid)" in s and "'q01'" in s)
    widget = next(i for i, s in enumerate(src) if 'quiz_widget()' in s)
    computing = [i for i, s in enumerate(src) if re.search(r'^#\s*computes:', s, re.M)]
    assert first_q < widget < min(computing), 'the computing cells come after the questions and the self-check'
    before = '\n'.join(s for c, s in zip(cells[:first_q], src) if c['cell_type'] == 'code')
    assert not re.search(r'^\s*(def|class) ', before, re.M), 'nothing of the engine above question 1'
    shown = ''.join(''.join(o['data'].get('text/html', '')) for o in cells[first_q].get('outputs', []) if 'data' in o)
    assert shown.count('<details>') == 9 and 'Question 1.' in shown, 'each answer folded'
    last = src[-1]
    assert '05_transfer_learning.ipynb' in last and '07_cli.ipynb' in last and 'Summary' in last
