"Helpers of lesson 05 on tiny learners: fine_tune by hand, rate spreading, random state, running the frozen body once, the late-body learner, run_once, CPU mixed precision, model cost."
import random, time, numpy as np, torch, pytest
from copy import deepcopy
from PIL import Image
from torch import nn
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.metrics import error_rate
from fastai.optimizer import SGD
from fastai.vision.learner import vision_learner
torch.set_num_threads(1)
from petlesson.pets import pets_datablock
from petlesson.lr import seed_learner, LRCurve
from petlesson.training import head_learner
from petlesson.models import CPUMixedPrecision, mixed_precision
from petlesson.transfer import (HyperRecorder, keep_random_state, fine_tune_by_hand, spread_lrs, param_groups_table,
                                epoch_history, overfitting_signs, model_cost, fastest_in_turns,
                                BodyBnFreeze, body_stages, stage_costs, frozen_batches, body_features, top_learner, seed_summary, run_once)

@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch): monkeypatch.setenv('PETLESSON_CACHE', str(tmp_path/'cache'))

def two_group_learner(tmp_path, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(320, 6, generator=g); y = (x[:, :2].sum(1) > 0).long()
    ds = list(zip(x, y))
    dls = DataLoaders(DataLoader(ds[:256], bs=32, shuffle=True, drop_last=True), DataLoader(ds[256:], bs=64))
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU()), nn.Sequential(nn.Dropout(.1), nn.Linear(16, 2)))
    return Learner(dls, model, loss_func=nn.CrossEntropyLoss(), metrics=error_rate, path=tmp_path,
                   splitter=lambda m: [list(m[0].parameters()), list(m[1].parameters())])

@pytest.fixture(scope='module')
def tiny_lite(tmp_path_factory):
    "An EfficientNet-Lite0 learner (random weights, as lesson 02's small-data learner) on 24 tiny pictures of 3 'breeds'"
    folder = tmp_path_factory.mktemp('pics')
    rng = np.random.default_rng(0)
    for i, (breed, colour) in enumerate([('Bengal', 0), ('beagle', 1), ('pug', 2)]*8):
        a = rng.integers(0, 80, (40, 48, 3), dtype=np.uint8); a[..., colour] += 150
        Image.fromarray(a).save(folder/f'{breed}_{i}.png')
    dls = pets_datablock(presize=40, size=32, seed=0).dataloaders(folder, bs=4, num_workers=0)
    torch.manual_seed(0)
    return vision_learner(dls, 'tf_efficientnet_lite0', pretrained=False, normalize=False, lin_ftrs=[], ps=0.25, train_bn=False)

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

def test_body_stages_are_the_body(tiny_lite):
    st = body_stages(tiny_lite)
    assert list(st)[0] == 'stem' and list(st)[-1] == 'conv_head' and len(st) == 9
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(): torch.testing.assert_close(nn.Sequential(*st.values()).eval()(x), tiny_lite.model[0].eval()(x))
    costs = stage_costs(tiny_lite, size=32, bs=2, reps=1)
    assert costs.parameters.sum() == sum(p.numel() for p in tiny_lite.model[0].parameters())
    assert costs.output.iloc[-1] == (1280, 1, 1) and abs(costs.time_share.sum() - 1) < 1e-9
    class NotAVisionLearner: model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    with pytest.raises(TypeError, match='not Linear'): body_stages(NotAVisionLearner())

def test_body_features_pooled_cut_cache_and_autocast(tiny_lite):
    f = body_features(tiny_lite, cut='blocks.6')
    n_train, n_valid = len(tiny_lite.dls.train_ds), len(tiny_lite.dls.valid_ds)
    assert f['train'][0].shape == (n_train, 2560) and f['valid'][0].shape == (n_valid, 2560)
    assert f['at_cut']['train'][0].shape == (n_train, 192, 1, 1) and f['cut'] == 'blocks.6'
    xb, yb = tiny_lite.dls.test_dl(tiny_lite.dls.valid.items, with_labels=True).one_batch()
    with torch.no_grad(): direct = tiny_lite.model[1][:2](tiny_lite.model[0].eval()(xb))
    torch.testing.assert_close(f['valid'][0][:len(xb)], direct.as_subclass(torch.Tensor), atol=1e-5, rtol=1e-4)
    assert torch.equal(f['valid'][1][:len(yb)], yb.as_subclass(torch.Tensor))
    again = body_features(tiny_lite, cut='blocks.6')
    assert again['key'] == f['key'] and torch.equal(again['at_cut']['valid'][0], f['at_cut']['valid'][0])
    plain = body_features(tiny_lite)
    assert 'at_cut' not in plain and plain['key'] != f['key'] and torch.allclose(plain['train'][0], f['train'][0], atol=1e-5)
    bf = body_features(tiny_lite, autocast_dtype=torch.bfloat16)
    assert bf['train'][0].dtype == torch.float32 and bf['key'] != plain['key']
    assert not torch.equal(bf['train'][0], plain['train'][0]) and torch.allclose(bf['train'][0], plain['train'][0], atol=0.2, rtol=0.1)
    with pytest.raises(ValueError, match='choose one of'): body_features(tiny_lite, cut='blocks.9')
    fb = frozen_batches(tiny_lite.dls)
    assert sum(len(x) for x, _ in fb['train']) == n_train and torch.equal(torch.cat([y for _, y in fb['valid']]), f['valid'][1])
    calls = []
    shared = lambda: calls.append(1) or fb
    torch.testing.assert_close(body_features(tiny_lite, cut='blocks.4', batches=shared)['train'][0], f['train'][0], atol=1e-5, rtol=1e-4)
    body_features(tiny_lite, cut='blocks.4', batches=shared)
    assert calls == [1]   # the shared batches are asked for only when the cache misses

def test_top_learner_starts_from_the_head_and_keeps_bn_statistics(tiny_lite):
    f = body_features(tiny_lite, cut='blocks.5')
    h = head_learner(tiny_lite, f, bs=4, seed=1)
    with h.no_bar(), h.no_logging(): h.fit(1, 1e-2)
    t = top_learner(tiny_lite, f, head=h.model, bs=4, seed=1)
    with t.no_bar(), h.no_bar():
        torch.testing.assert_close(t.get_preds()[0], h.get_preds()[0], atol=1e-4, rtol=1e-4)   # the same model, cut differently
    assert sum(p.numel() for p in t.model[0].parameters() if p.requires_grad) == 0 and len(t.opt.param_lists) == 2
    t.unfreeze()
    before = deepcopy(t.model[0].state_dict())
    bn = [k for k in before if k.endswith('running_mean')]
    with t.no_bar(), t.no_logging(): t.fit(1, 1e-3)
    assert all(torch.equal(t.model[0].state_dict()[k], before[k]) for k in bn)          # statistics kept...
    assert any(not torch.equal(t.model[0].state_dict()[k], before[k]) for k in before if k.endswith('conv_pw.weight'))   # ...weights trained
    drift = top_learner(tiny_lite, f, head=h.model, bs=4, seed=1, keep_bn_stats=False)
    drift.unfreeze()
    with drift.no_bar(), drift.no_logging(): drift.fit(1, 1e-3)
    assert any(not torch.equal(drift.model[0].state_dict()[k], before[k]) for k in bn)   # fastai's default lets them move
    with pytest.raises(ValueError, match='without a cut'): top_learner(tiny_lite, body_features(tiny_lite))

def test_body_bn_freeze_on_a_whole_learner(tmp_path):
    learn = two_group_learner(tmp_path)
    learn.unfreeze()
    before = learn.model[0][1].running_mean.clone()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=BodyBnFreeze())
    assert torch.equal(learn.model[0][1].running_mean, before)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert not torch.equal(learn.model[0][1].running_mean, before)

def test_seed_summary_and_run_once():
    s = seed_summary([0.2, 0.25, 0.15], 20)
    assert s['seeds'] == 3 and abs(s['mean'] - 0.2) < 1e-12 and abs(s['photos'] - 4) < 1e-9 and abs(s['sd'] - 0.05) < 1e-12
    with pytest.raises(ValueError, match='at least one seed'): seed_summary([], 10)
    with pytest.raises(ValueError, match='between 0 and 1'): seed_summary([12.5], 10)
    calls = []
    def f(v): calls.append(v); return {'v': v, 't': torch.ones(2)}
    assert run_once(lambda: f(1), ['k', 1])['v'] == 1
    assert run_once(lambda: f(2), ['k', 1])['v'] == 1
    assert run_once(lambda: f(3), ['k', 2])['v'] == 3
    assert run_once(lambda: f(4), ['k', 1], cache=False)['v'] == 4
    assert calls == [1, 3, 4]

def test_cpu_mixed_precision(tmp_path):
    learn = two_group_learner(tmp_path)
    learn, how = mixed_precision(learn)
    assert 'bfloat16' in how and any(isinstance(c, CPUMixedPrecision) for c in learn.cbs)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2)
    assert np.isfinite(learn.recorder.values[-1][1])
    assert not torch.is_autocast_enabled('cpu')   # the autocast context was closed again

def test_cpu_mixed_precision_leaves_autocast_once_when_batches_are_cancelled(tmp_path):
    "GradientAccumulation cancels batches after their loss: leaving autocast twice would drive torch's nesting count below 0"
    from fastai.callback.training import GradientAccumulation
    learn, _ = mixed_precision(two_group_learner(tmp_path))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2, cbs=GradientAccumulation(n_acc=10_000))
    n = torch.autocast_increment_nesting(); torch.autocast_decrement_nesting()
    assert n == 1 and not torch.is_autocast_enabled('cpu')

def test_model_cost_counts():
    toy = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4*8*8, 37))
    c = model_cost(toy, bs=2, size=8, steps=1)
    n = 3*4*9 + 4 + 4*8*8*37 + 37
    assert round(c['params_M']*1e6) == n and c['weights_MB']*2**20 == 4*n and c['grads_MB'] == c['weights_MB']
    assert c['adam_MB']*2**20 == pytest.approx(2*4*n + 4*4, abs=16)   # two averages a weight, a step count a tensor
    kept = 2*3*8*8*4 + 2*4*8*8*4                                        # the convolution's input, the ReLU's output
    assert kept <= c['activations_MB']*2**20 <= kept + 1024
    assert c['forward_s'] > 0 and c['step_s'] > 0
    assert all(p.requires_grad for p in toy.parameters())               # the model itself is left alone
    frozen = deepcopy(toy).requires_grad_(False); frozen[-1].requires_grad_(True)
    fc = model_cost(frozen, bs=2, size=8, steps=1, unfreeze=False)
    assert fc['trainable_M']*1e6 == pytest.approx(4*8*8*37 + 37) and fc['activations_MB'] < c['activations_MB']
    convs = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 37))
    assert model_cost(convs, bs=2, size=16, steps=1, autocast_dtype=torch.bfloat16)['activations_MB'] < model_cost(convs, bs=2, size=16, steps=1)['activations_MB']
    with pytest.raises(ValueError, match='memory only'): model_cost(toy, steps=-1)
    m0 = model_cost(toy, bs=2, size=8, steps=0)
    assert np.isnan(m0['step_s']) and np.isnan(m0['forward_s']) and m0['activations_MB'] == c['activations_MB']

def test_fastest_in_turns():
    calls = []
    t = fastest_in_turns({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b') or time.sleep(0.01)}, reps=2)
    assert calls == ['a', 'b', 'a', 'b'] and t['a'] < t['b'] and t['b'] >= 0.01
    with pytest.raises(ValueError, match='at least one function'): fastest_in_turns({}, reps=1)
    with pytest.raises(ValueError, match='reps'): fastest_in_turns({'a': lambda: None}, reps=0)
