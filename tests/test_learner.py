"Pieces of petlesson.learner that the lesson uses only indirectly."
import pytest, torch
from petlesson.learner import atomic_save

def test_atomic_save_writes_whole_files_and_leaves_no_temporaries(tmp_path):
    dest = atomic_save({'w': torch.arange(5)}, tmp_path/'sub'/'x.pth')
    assert torch.equal(torch.load(dest)['w'], torch.arange(5))
    atomic_save({'w': torch.zeros(2)}, dest)              # replaces in place
    assert torch.equal(torch.load(dest)['w'], torch.zeros(2))
    with pytest.raises(Exception): atomic_save(lambda: 0, dest)   # cannot be pickled
    assert torch.equal(torch.load(dest)['w'], torch.zeros(2))     # the old file survives a failed save
    assert sorted(p.name for p in dest.parent.iterdir()) == ['x.pth']
