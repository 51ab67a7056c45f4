"Helpers of lesson 05 on tiny synthetic learners: fine_tune by hand, rate spreading, random state, CPU mixed precision, model cost."
import random, numpy as np, torch, pytest
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.metrics import error_rate
from fastai.optimizer import SGD
torch.set_num_threads(1)
from petlesson.lr import seed_learner, LRCurve
from petlesson.transfer import (HyperRecorder, keep_random_state, fine_tune_by_hand, spread_lrs, param_groups_table,
                                epoch_history, overfitting_signs, CPUMixedPrecision, mixed_precision, model_cost)

def two_group_learner(tmp_path, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(320, 6, generator=g); y = (x[:, :2].sum(1) > 0).long()
    ds = list(zip(x, y))
    dls = DataLoaders(DataLoader(ds[:256], bs=32, shuffle=True, drop_last=True), DataLoader(ds[256:], bs=64))
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU()), nn.Sequential(nn.Dropout(.1), nn.Linear(16, 2)))
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=error_rate, path=tmp_path,
                   splitter=lambda m: [list(m[0].parameters()), list(m[1].parameters())])

def test_fine_tune_by_hand_equals_fine_tune(tmp_path):
    out = []
    for by_hand in (False, True):
        learn = seed_learner(two_group_learner(tmp_path), 3)
        rec = HyperRecorder()
        with learn.no_bar(), learn.no_logging():
            curve = fine_tune_by_hand(learn, 2, cbs=rec) if by_hand else learn.fine_tune(2, cbs=rec)
        out.append((learn, rec, curve))
    (a, ra, _), (b, rb, curve) = out
    np.testing.assert_allclose(np.array(ra.lrs), np.array(rb.lrs), rtol=1e-12)
    for p, q in zip(a.model.parameters(), b.model.parameters()): torch.testing.assert_close(p, q)
    assert isinstance(curve, LRCurve)
    assert ra.frozen[0] > 0 and ra.frozen[-1] == 0   # frozen first, then everything trained

def test_spread_lrs_matches_fastai():
    for n in (1, 2, 3, 5):
        for lr in (3e-3, slice(1e-3), slice(1e-6, 1e-3)):
            opt = SGD([[nn.Parameter(torch.zeros(1))] for _ in range(n)], lr=1e-3)
            opt.set_hyper('lr', lr)
            np.testing.assert_allclose(spread_lrs(lr, n), [h['lr'] for h in opt.hypers], rtol=1e-12)
    with pytest.raises(ValueError, match='upper end'): spread_lrs(slice(1e-3, None), 3)
    with pytest.raises(ValueError, match='start <= stop'): spread_lrs(slice(1e-2, 1e-4), 3)

def test_param_groups_table_and_history(tmp_path):
    learn = two_group_learner(tmp_path)
    learn.freeze()
    t = param_groups_table(learn)
    assert list(t.index) == [0, 1] and t.trainable[0] == 32 and t.trainable[1] == t.parameters[1]   # only BatchNorm in group 0
    with pytest.raises(ValueError, match='No epochs'): epoch_history(two_group_learner(tmp_path))
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 1e-2)
    h = epoch_history(learn)
    assert list(h.columns) == ['train_loss', 'valid_loss', 'error_rate'] and len(h) == 3
    s = overfitting_signs(h)
    assert s['best_epoch'] == int(h.valid_loss.idxmin())

def test_keep_random_state(tmp_path):
    learn = two_group_learner(tmp_path)
    with keep_random_state(learn):
        inside = (random.random(), np.random.rand(), torch.rand(1).item(), learn.dls.train.rng.random())
    after = (random.random(), np.random.rand(), torch.rand(1).item(), learn.dls.train.rng.random())
    assert inside == after

def test_cpu_mixed_precision(tmp_path):
    learn = two_group_learner(tmp_path)
    learn, how = mixed_precision(learn)
    assert 'bfloat16' in how and any(isinstance(c, CPUMixedPrecision) for c in learn.cbs)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    assert np.isfinite(learn.recorder.values[-1][1])
    assert not torch.is_autocast_enabled('cpu')   # the autocast context was closed again

def test_model_cost_counts():
    toy = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4*8*8, 37))
    c = model_cost(toy, bs=2, size=8, steps=1)
    assert c['params_M']*1e6 == pytest.approx(3*4*9 + 4 + 4*8*8*37 + 37)
    assert c['activations_MB']*2**20 == pytest.approx(2*4*(4*8*8*2 + 37))
    bf = model_cost(toy, bs=2, size=8, steps=1, autocast_dtype=torch.bfloat16)
    assert bf['activations_MB'] < c['activations_MB']
