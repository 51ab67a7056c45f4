"Pieces of petlesson.learner that the lesson uses only indirectly."
from types import SimpleNamespace
import pytest, torch
from petlesson.learner import atomic_save, ChannelsLastInputs

def test_atomic_save_writes_whole_files_and_leaves_no_temporaries(tmp_path):
    dest = atomic_save({'w': torch.arange(5)}, tmp_path/'sub'/'x.pth')
    assert torch.equal(torch.load(dest)['w'], torch.arange(5))
    atomic_save({'w': torch.zeros(2)}, dest)              # replaces in place
    assert torch.equal(torch.load(dest)['w'], torch.zeros(2))
    with pytest.raises(Exception): atomic_save(lambda: 0, dest)   # cannot be pickled
    assert torch.equal(torch.load(dest)['w'], torch.zeros(2))     # the old file survives a failed save
    assert sorted(p.name for p in dest.parent.iterdir()) == ['x.pth']

def test_channels_last_inputs_converts_image_batches_only():
    cb = ChannelsLastInputs()
    cb.learn = SimpleNamespace(xb=(torch.randn(2, 3, 8, 8),), model=torch.nn.Conv2d(3, 4, 3))
    cb.before_fit(); cb.before_batch()
    assert cb.learn.xb[0].is_contiguous(memory_format=torch.channels_last)
    assert cb.learn.model.weight.is_contiguous(memory_format=torch.channels_last)
    flat = torch.randn(2, 5)
    cb.learn.xb = (flat,); cb.before_batch()
    assert cb.learn.xb[0] is flat

def test_fused_adam_matches_fastai_adam_on_a_small_model():
    "FusedAdam takes the same steps as fastai's Adam, weight decay and per-parameter do_wd=False included"
    from fastai.optimizer import Adam
    from petlesson.learner import FusedAdam
    for fused in (True, False):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3))
        twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3))
        twin.load_state_dict(net.state_dict())
        groups = lambda m: [list(m[:2].parameters()), list(m[2].parameters())]
        a, b = Adam(groups(net), lr=1e-2, wd=0.1), FusedAdam(groups(twin), lr=1e-2, wd=0.1, fused=fused)
        for o, m in ((a, net), (b, twin)): o.state[m[1].weight]['do_wd'] = False
        for step in range(5):   # the same gradients for both (recomputing them would let rounding grow through batch norm)
            for p, q in zip(net.parameters(), twin.parameters()): p.grad = torch.randn_like(p); q.grad = p.grad.clone()
            a.set_hyper('lr', [1e-3, 1e-2][step % 2]); b.set_hyper('lr', [1e-3, 1e-2][step % 2])
            a.step(); b.step()
        for p, q in zip(net.parameters(), twin.parameters()): assert torch.allclose(p, q, atol=1e-6), (fused, p - q)
        assert not torch.equal(net[1].weight, torch.ones(8))   # the steps did move the weights (batch norm starts at 1)

def test_fused_adam_drops_gradients_and_trains_a_learner():
    "zero_grad leaves no gradient tensors; a short fit through fastai's loop still lowers the loss"
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from petlesson.learner import FusedAdam
    torch.manual_seed(0)
    x = torch.randn(256, 4); y = (x[:, 0] > 0).long()
    ds = list(zip(x, y))
    dls = DataLoaders.from_dsets(ds[:192], ds[192:], bs=32)
    learn = Learner(dls, torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)),
                    loss_func=torch.nn.functional.cross_entropy, opt_func=FusedAdam)
    before = learn.validate()[0]
    with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-2)
    assert learn.validate()[0] < before
    assert isinstance(learn.opt, FusedAdam) and all(p.grad is None for p in learn.model.parameters())

def test_keep_freed_memory_switches_glibc_and_pets_learner_asks_for_it(monkeypatch):
    "On glibc the switch takes; it rejects a threshold mallopt cannot hold; pets_learner calls it on the CPU unless told not to"
    import platform, pytest
    import petlesson.learner as L
    from petlesson.data import pets_dataloaders
    assert L.keep_freed_memory() == (platform.libc_ver()[0] == 'glibc')
    with pytest.raises(ValueError, match='trim_mb must be between 0 and 2047'): L.keep_freed_memory(2048)
    calls = []
    monkeypatch.setattr(L, 'keep_freed_memory', lambda *a: calls.append(a) or True)
    dls = pets_dataloaders('sample', bs=8)
    L.pets_learner(dls, pretrained=False)
    L.pets_learner(dls, pretrained=False, keep_memory=False)
    assert len(calls) == 1
