import os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT.parent/'shared'/'data'/'oxford-iiit-pet-annotations'

@pytest.fixture(scope='session')
def root(): return ROOT

def run_petlesson(*args, env=None, timeout=900):
    "Run the `petlesson` command in a process of its own (as `python -m petlesson.command`: the installed script may point at another checkout)"
    cmd = [sys.executable, '-m', 'petlesson.command', *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})

def run_main(capsys, *args):
    "`petlesson ARGS` in this process: its exit status, stdout and stderr, as `subprocess.run` gives them (argparse's exit becomes the status)"
    from types import SimpleNamespace
    from petlesson.command import main
    try: rc = main([str(a) for a in args])
    except SystemExit as e: rc = e.code
    out = capsys.readouterr()
    return SimpleNamespace(returncode=rc, stdout=out.out, stderr=out.err)
