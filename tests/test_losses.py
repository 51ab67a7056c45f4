"Checks of petlesson.losses outside a notebook kernel: double-precision gradcheck, a sweep of extreme inputs, and the widget driven headless."
import math
import pytest, torch
import torch.nn.functional as F
from petlesson.losses import (softmax, log_softmax, logsumexp, nll_loss, cross_entropy, cross_entropy_grad, entropy,
                              fit_temperature, expected_calibration_error, temperature_view, temperature_explorer, REDUCTIONS)

def test_gradcheck_double():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 7, (5,), generator=g)
    for t in (0.5, 1., 3.):
        assert torch.autograd.gradcheck(lambda x: cross_entropy(x, y, t), (x,))
        assert torch.autograd.gradcheck(lambda x: softmax(x, temperature=t), (x,))
        assert torch.autograd.gradgradcheck(lambda x: cross_entropy(x, y, t), (x,))

@pytest.mark.parametrize('scale', [1e-3, 1., 30., 1e4, 1e30])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_extreme_scales_match_torch(scale, dtype):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(32, 37, generator=g, dtype=dtype) * scale)
    y = torch.randint(0, 37, (32,), generator=g)
    assert torch.isfinite(log_softmax(x)).all()
    torch.testing.assert_close(softmax(x), torch.softmax(x, -1))
    torch.testing.assert_close(log_softmax(x), F.log_softmax(x, -1))
    torch.testing.assert_close(logsumexp(x), torch.logsumexp(x, -1))
    for r in REDUCTIONS: torch.testing.assert_close(cross_entropy(x, y, reduction=r), F.cross_entropy(x, y, reduction=r))

def test_masked_logits_and_half_precision():
    x = torch.tensor([[0., -math.inf, 1.], [-math.inf, -math.inf, 2.]])
    torch.testing.assert_close(softmax(x), torch.softmax(x, -1))
    xb = torch.randn(4, 5).bfloat16()
    torch.testing.assert_close(softmax(xb), torch.softmax(xb, -1), atol=1e-2, rtol=1e-2)

def test_grad_formula_against_autograd_on_one_row():
    x = torch.tensor([2., -1., 0.5], requires_grad=True)
    cross_entropy(x, torch.tensor(2)).backward()
    torch.testing.assert_close(x.grad, cross_entropy_grad(x, torch.tensor(2)))
    torch.testing.assert_close(x.grad, torch.softmax(x.detach(), 0) - torch.tensor([0., 0., 1.]))

def test_errors():
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    with pytest.raises(IndexError, match='from 0 to 2'): cross_entropy(x, torch.tensor([0, 1, 3, 1]))
    with pytest.raises(ValueError, match='positive'): softmax(x, temperature=-1)
    with pytest.raises(ValueError, match='positive'): cross_entropy(x, y, temperature=float('nan'))
    with pytest.raises(ValueError, match=r'needs shape \(4,\)'): nll_loss(x, y[:2])
    with pytest.raises(TypeError, match='integer class indices'): cross_entropy(x, y.float())
    with pytest.raises(ValueError, match='not logits'): entropy(x)

def test_fit_temperature_recovers_a_known_scale():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(5000, 5, generator=g) * 2
    y = torch.multinomial(torch.softmax(z, 1), 1, generator=g).squeeze(1)
    t = fit_temperature(z * 4, y)
    assert abs(t - 4) < 0.25
    assert expected_calibration_error(softmax(z * 4, temperature=t), y) < expected_calibration_error(softmax(z * 4), y)

def test_view_compute_only_and_curves():
    v = temperature_view([1., 2., 3.], target=2, temperature=0.5, fig=False)
    assert v.fig is None and v.prediction == 2
    torch.testing.assert_close(v.losses, F.cross_entropy(torch.tensor([[1., 2., 3.]]) / v.temperatures[:, None],
                                                         torch.full((len(v.temperatures),), 2), reduction='none'))

def test_widget_driven_headless():
    ex = temperature_explorer([0., 1., 4.], labels=['a', 'b', 'c'], target=1)
    assert ex.view.target == 1 and ex.target.options[1] == ('1: b', 1)
    png, text = ex.image.value, ex.summary.value
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    ex.slider.value = 0.1
    assert ex.image.value != png and ex.summary.value != text
    torch.testing.assert_close(ex.view.probs, torch.softmax(torch.tensor([0., 1., 4.]) / 0.1, 0))
    ex.slider.value = 1e6   # refused: the widget says why and keeps its value, no exception escapes from a slider
    assert "outside the slider's range" in ex.summary.value and ex.error and ex.slider.value == pytest.approx(0.1)
    with pytest.raises(ValueError, match="outside the slider's range"): ex.set(temperature=1e6)
    ex.slider.value = 0.2
    assert ex.error is None and ex.view.temperature == pytest.approx(0.2)
    ex.slider.value = 0.1
    ex.preset.value = 'all equal'
    assert len(ex.view.probs) == 5 and ex.labels is None
    ex.logits_box.value = 'nonsense'
    assert ex.error and 'separated by commas' in ex.summary.value

def test_slider_alone_raises_and_set_changes_nothing_on_bad_temperature():
    from traitlets import TraitError
    from petlesson.losses import TemperatureSlider
    s = TemperatureSlider(base=10, min=-1, max=1)
    with pytest.raises(TraitError, match="outside the slider's range"): s.value = 50.
    ex = temperature_explorer([0., 1., 4.])
    with pytest.raises(ValueError, match="outside the slider's range"): ex.set(logits=[1., 2.], temperature=500.)
    assert len(ex.view.probs) == 3   # the logits were not changed either

def test_presets_carry_labels_and_targets():
    from petlesson.losses import TemperatureExplorer
    ex = TemperatureExplorer({'a': ([1., 2., 3.], ['x', 'y', 'z'], 2), 'b': ([0., 0.], None, 1), 'c': [5., 1., 1., 1.]})
    assert ex.view.target == 2 and ex.labels == ['x', 'y', 'z']
    ex.preset.value = 'b'
    assert ex.view.target == 1 and ex.labels is None and len(ex.view.probs) == 2
    ex.preset.value = 'c'
    assert ex.view.target == 1 and len(ex.view.probs) == 4   # no target in the preset: the current one is kept
    with pytest.raises(ValueError, match='from 0 to 1'): TemperatureExplorer({'bad': ([0., 1.], None, 2)})
    with pytest.raises(ValueError, match='outside the explorer'): temperature_view([0., 1.], 0, 200.)
