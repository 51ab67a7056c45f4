"The from-scratch range test, the suggestion rules and the LR explorer, against fastai on a tiny synthetic learner."
import numpy as np, torch, pytest
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.metrics import error_rate
from fastai.callback.schedule import minimum, steep, valley, slide
torch.set_num_threads(1)   # tiny models: threads on a busy 2-core machine only wait on each other
from petlesson.lr import (LRRangeTest, LRCurve, LRGrid, lr_range_test, seed_learner, suggest_lrs, SUGGESTERS,
                          train_at_lrs, draw_lr_explorer, lr_explorer)

def tiny_learner(tmp_path, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(640, 8, generator=g); y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()
    ds = list(zip(x, y))
    dls = DataLoaders(DataLoader(ds[:512], bs=16, shuffle=True, drop_last=True), DataLoader(ds[512:], bs=64))
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(.1), nn.Linear(32, 3))
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=error_rate, path=tmp_path)

def test_range_test_matches_fastai_and_restores(tmp_path):
    learn = tiny_learner(tmp_path)
    learn.create_opt()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    curve = lr_range_test(learn, num_it=60, seed=1)
    for k, v in learn.model.state_dict().items(): assert torch.equal(v, before[k])
    assert learn.opt.hypers[0]['lr'] == learn.lr   # optimiser hyper-parameters put back too
    seed_learner(learn, 1)
    with learn.no_bar(): fa = learn.lr_find(num_it=60, suggest_funcs=(minimum, steep, valley, slide), show_plot=False)
    np.testing.assert_allclose(np.array(learn.recorder.lrs), curve.lrs, rtol=1e-9)
    np.testing.assert_allclose(np.array([float(o) for o in learn.recorder.losses]), curve.losses, rtol=1e-4, atol=1e-5)
    ours = suggest_lrs(curve)
    for name in SUGGESTERS: assert ours[name][0] == pytest.approx(getattr(fa, name), rel=1e-4)

def test_divergence_stops_early(tmp_path):
    learn = tiny_learner(tmp_path)
    curve = lr_range_test(learn, start_lr=1e-3, end_lr=1e4, num_it=200)
    assert curve.diverged and len(curve.lrs) < 200 and curve.losses[-1] > 4*curve.losses.min()
    nodiv = lr_range_test(learn, start_lr=1e-6, end_lr=1e-4, num_it=30)
    assert not nodiv.diverged and len(nodiv.lrs) == 30

def test_rules_match_fastai_on_random_curves():
    rng = np.random.default_rng(1)
    for _ in range(200):
        lrs = np.geomspace(1e-7, 10, int(rng.integers(20, 120)))
        losses = np.cumsum(rng.normal(-.01, .05, len(lrs))) + 3
        for name, fn in [('minimum', minimum), ('steep', steep), ('valley', valley), ('slide', slide)]:
            assert SUGGESTERS[name](lrs, losses)[0] == pytest.approx(fn(torch.tensor(lrs), torch.tensor(losses), 100)[0], rel=1e-9)

def test_bad_input_errors():
    with pytest.raises(ValueError, match='start_lr < end_lr'): LRRangeTest(1, 1e-3)
    with pytest.raises(ValueError, match='usable points'): LRCurve(np.geomspace(1e-3, 1, 6), np.ones(6), np.ones(6), num_it=6).trimmed()
    c = LRCurve(np.geomspace(1e-3, 1, 50), np.linspace(3, 1, 50), np.linspace(3, 1, 50), num_it=50)
    with pytest.raises(ValueError, match='Unknown rule'): suggest_lrs(c, ('minimum', 'bogus'))

def test_explorer_headless(tmp_path):
    learn = tiny_learner(tmp_path)
    curve = lr_range_test(learn, num_it=60)
    grid = train_at_lrs(lambda: tiny_learner(tmp_path), np.geomspace(1e-3, 10, 5), epochs=1)
    assert grid.valid_losses.shape == (5, 1) and len(grid.train_losses[0]) == len(learn.dls.train)
    fig = draw_lr_explorer(curve, grid, 0.1, suggest_lrs(curve))
    assert len(fig.axes) == 3 and '1.00e-01' in fig.axes[1].get_title()
    w = lr_explorer(curve, grid)
    w.slider.value = float(grid.lrs[0])
    assert f'lr {grid.lrs[0]:.2e}' in w.label.value and w.image.value[:4] == b'\x89PNG'
    w.slider.value = float(grid.lrs[4])
    assert f'lr {grid.lrs[4]:.2e}' in w.label.value and len(w.cache) >= 2

def test_stop_div_off_runs_every_batch(tmp_path):
    learn = tiny_learner(tmp_path)
    curve = lr_range_test(learn, start_lr=1e-2, end_lr=1e5, num_it=40, stop_div=False)
    assert not curve.diverged and len(curve.lrs) == 40
    np.testing.assert_allclose(curve.lrs, np.geomspace(1e-2, 1e5, 41)[:40], rtol=1e-9)

def test_beta_sets_the_smoothing(tmp_path):
    import pandas as pd
    learn = tiny_learner(tmp_path)
    curve = lr_range_test(learn, num_it=30, stop_div=False, beta=0.9)
    np.testing.assert_allclose(pd.Series(curve.raw_losses).ewm(alpha=0.1, adjust=True).mean().values, curve.losses, rtol=1e-5)
    default = lr_range_test(learn, num_it=30, stop_div=False)
    np.testing.assert_allclose(default.raw_losses, curve.raw_losses, rtol=1e-5)   # same batches, same rates: only the smoothing differs
    assert not np.allclose(default.losses, curve.losses)
