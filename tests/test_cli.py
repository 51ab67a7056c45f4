"""The `petlesson` command as a user runs it.

Two tests run the command in a process of its own (`python -m petlesson.command`) (`--help`, and a short training run
end to end); the others call the same `main` in this process, which skips the eight seconds of imports a new
process costs and checks the same messages and exit statuses."""
import functools, json
import pytest
from conftest import run_petlesson, run_main

@pytest.fixture
def petlesson(capsys):
    "Run `petlesson ARGS` in this process (conftest's `run_main`)"
    return functools.partial(run_main, capsys)

def test_help():
    r = run_petlesson('--help')
    assert r.returncode == 0
    for opt in ('--data', '--backbone', '--epochs', '--size', '--bs', '--lr', '--seed', '--out', '--threads'): assert opt in r.stdout

def test_data_step_on_the_sample(petlesson):
    r = petlesson('--data', 'sample', '--check-only')
    assert r.returncode == 0, r.stderr
    assert '37 breeds' in r.stdout and 'no problems' in r.stdout and 'Training' not in r.stdout

def test_missing_folder_is_a_clear_error(petlesson, tmp_path):
    r = petlesson('--data', str(tmp_path/'nowhere'))
    assert r.returncode != 0 and 'No such folder' in r.stderr and 'Traceback' not in r.stderr

def test_folder_not_in_oxford_layout(petlesson, tmp_path):
    r = petlesson('--data', str(tmp_path))
    assert r.returncode != 0 and 'not in the Oxford-IIIT Pet layout' in r.stderr

def test_bad_option_exits_non_zero(petlesson):
    r = petlesson('--no-such-option')
    assert r.returncode == 2 and 'usage' in r.stderr

def test_bad_values_exit_non_zero(petlesson):
    for args, why in ((['--bs', '0'], 'must be positive'), (['--lr', 'fast'], 'expected a float'),
                      (['--backbone', 'vgg16'], 'invalid choice'), (['--epochs', '-1'], 'must be between 0 and 100')):
        r = petlesson(*args)
        assert r.returncode == 2 and why in r.stderr, (args, r.stderr)

def test_batch_larger_than_the_training_set(petlesson, tmp_path):
    r = petlesson('--data', 'sample', '--bs', '1000', '--out', str(tmp_path))
    assert r.returncode == 1 and 'larger than the training set' in r.stderr and 'Traceback' not in r.stderr

def test_resnet34_without_network_is_a_clear_error(petlesson, tmp_path, monkeypatch):
    # No network here (and no cached torchvision weights), or a network: either way no traceback.
    for k, v in {'TORCH_HOME': str(tmp_path/'torch'), 'HTTPS_PROXY': 'http://127.0.0.1:9', 'HTTP_PROXY': 'http://127.0.0.1:9'}.items(): monkeypatch.setenv(k, v)
    r = petlesson('--data', 'sample', '--backbone', 'resnet34', '--epochs', '1', '--size', '64', '--out', str(tmp_path))
    assert r.returncode == 1, r.stderr[-2000:]
    assert 'ResNet-34' in r.stderr and 'efficientnet_lite0' in r.stderr and 'Traceback' not in r.stderr

def test_one_epoch_end_to_end(tmp_path):
    "The default pipeline on the sample through the console script, shortened to one frozen and one unfrozen epoch at 64 px: table, error rate, figures, metrics.json"
    out = tmp_path/'run'
    r = run_petlesson('--data', 'sample', '--freeze-epochs', '1', '--epochs', '1', '--size', '64', '--out', str(out), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '37 breeds' in r.stdout and 'train_loss' in r.stdout and 'Final error rate' in r.stdout
    assert 'Most confused' in r.stdout
    m = json.loads((out/'metrics.json').read_text())
    assert [e['phase'] for e in m['epochs']] == ['frozen', 'unfrozen']
    assert 0 <= m['error_rate'] < 36/37 and abs(m['error_rate'] - m['epochs'][-1]['error_rate']) < 1e-6
    assert m['settings']['epochs'] == 1 and m['settings']['backbone'] == 'efficientnet_lite0'
    for f in ('confusion_matrix.png', 'results.png'): assert (out/f).stat().st_size > 10_000

def test_format_summary_lists_every_breed_and_the_check():
    from petlesson.pets import get_pets
    from petlesson.photos import pets_summary, check_images, BREEDS
    from petlesson.command import format_summary
    root = get_pets('sample')
    summary, report = pets_summary(root), check_images(root)
    text = format_summary(root, summary, report)
    assert all(b in text for b in BREEDS)
    assert f"{summary['n_images']} images of 37 breeds" in text and 'no problems' in text

def test_check_only_exit_status_says_whether_the_folder_can_train(petlesson, tmp_path):
    "Through `main`: 1 and one sentence per problem for a phone's folder, 0 for a good one"
    from PIL import Image
    for name, names in (('phone', [f'IMG_{i:04d}.jpg' for i in range(1, 7)]), ('pets', [f'{b}_{i}.jpg' for b in ('pug', 'beagle') for i in range(1, 4)])):
        (tmp_path/name/'images').mkdir(parents=True)
        for n in names: Image.new('RGB', (32, 32), (120, 90, 60)).save(tmp_path/name/'images'/n)
    bad, good = (petlesson('--data', str(tmp_path/n), '--check-only') for n in ('phone', 'pets'))
    assert bad.returncode == 1 and "petlesson: error: 6 image name(s) give no breed ('IMG'" in bad.stderr and 'Traceback' not in bad.stderr
    assert good.returncode == 0 and 'no problems' in good.stdout, good.stderr

def test_fast_is_opt_in_and_hands_lesson_08s_speed_up_to_the_training(monkeypatch):
    "--fast is off by default; on, train_step passes petlesson.speed.speed_up as the learner's `prepare` (and the cache key)"
    import petlesson.command as cli, petlesson.training as training
    from petlesson.speed import speed_up
    assert cli.make_parser().parse_args([]).fast is False and cli.make_parser().parse_args(['--fast']).fast is True
    seen = []
    monkeypatch.setattr(training, 'trained_pets_learner', lambda *a, **k: seen.append(k) or 'learner')
    assert cli.train_step('synthetic', 'efficientnet_lite0', fast=True) == 'learner'
    assert cli.train_step('synthetic', 'efficientnet_lite0') == 'learner'
    assert seen[0]['prepare'] is speed_up and 'prepare' not in seen[1]
    from petlesson.training import learner_cache_path
    assert learner_cache_path('synthetic', prepare='speed_up') != learner_cache_path('synthetic')
