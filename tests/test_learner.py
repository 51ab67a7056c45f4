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
