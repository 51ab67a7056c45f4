"The same seed gives the same numbers: on a fresh cache (weights converted first), a warm one, and retrained."
import json, os, subprocess, sys
import pytest
from conftest import ROOT

RUN = r'''
import json, sys, warnings
warnings.filterwarnings('ignore')
import torch
torch.set_num_threads(1)
from petlesson.training import trained_pets_learner
learn = trained_pets_learner(sys.argv[1], recipe='small_data', freeze_epochs=1, size=64, presize=64, bs=16,
                             retrain=sys.argv[2] == 'retrain', verbose=False)
head = learn.model[1][-1].weight
print(json.dumps(dict(table=learn.epoch_table.drop(columns=['time']).round(6).to_dict(orient='list'),
                      head=float(head.double().sum()), valid=[str(p.name) for p in learn.dls.valid_ds.items[:5]],
                      cached=learn.from_cache)))
'''

def _run(data, cache, mode='train'):
    env = {**os.environ, 'PETLESSON_CACHE': str(cache), 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-c', RUN, str(data), mode], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])

def test_fresh_and_warm_caches_give_identical_runs(tmp_path):
    from petlesson.synthetic import make_sample
    data = make_sample(tmp_path/'pets', n_per_breed=3, min_side=64, max_side=80)
    first = _run(data, tmp_path/'a')                  # fresh cache: the offline weights are converted in this run
    again = _run(data, tmp_path/'a', 'retrain')       # weights already converted: trains again from the same seed
    other = _run(data, tmp_path/'b')                  # another fresh cache
    warm = _run(data, tmp_path/'a')                   # loads the trained weights
    assert not first['cached'] and not again['cached'] and warm['cached']
    for run in (again, other, warm):
        assert run['valid'] == first['valid']
        assert run['table'] == first['table']
        assert run['head'] == first['head']
