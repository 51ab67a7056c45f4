"The `petlesson` console script as a user runs it."
from conftest import run_petlesson

def test_help():
    r = run_petlesson('--help')
    assert r.returncode == 0 and '--data' in r.stdout

def test_data_step_on_the_sample():
    r = run_petlesson('--data', 'sample')
    assert r.returncode == 0, r.stderr
    assert '37 breeds' in r.stdout and 'no problems' in r.stdout

def test_missing_folder_is_a_clear_error(tmp_path):
    r = run_petlesson('--data', str(tmp_path/'nowhere'))
    assert r.returncode != 0 and 'No such folder' in r.stderr and 'Traceback' not in r.stderr

def test_folder_not_in_oxford_layout(tmp_path):
    r = run_petlesson('--data', str(tmp_path))
    assert r.returncode != 0 and 'not in the Oxford-IIIT Pet layout' in r.stderr

def test_bad_option_exits_non_zero():
    r = run_petlesson('--no-such-option')
    assert r.returncode == 2 and 'usage' in r.stderr
