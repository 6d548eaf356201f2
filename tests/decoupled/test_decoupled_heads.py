"""LWSClsHead and TauNormClsHead against formulas written out here, their
gradients, their checkpoints (a stage-1 LinearClsHead checkpoint loads into
them) and their arguments."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from lmfloss_mm.models.heads import LWSClsHead, TauNormClsHead

C, D = 5, 6


@pytest.fixture
def stage1():
    """A trained-looking LinearClsHead: rows of very different norms, a
    bias."""
    torch.manual_seed(0)
    head = LinearClsHead(C, D)
    with torch.no_grad():
        head.fc.weight.copy_(torch.randn(C, D) *
                             torch.tensor([3.0, 1.0, 0.5, 0.2, 0.1])[:, None])
        head.fc.bias.copy_(torch.randn(C))
    return head


@pytest.fixture
def feats():
    return (torch.randn(8, D, generator=torch.Generator().manual_seed(1)), )


def numpy_logits(x, weight, bias=None, scales=None, tau=None):
    """Row by row with numpy, float64."""
    x, w = x.double().numpy(), weight.detach().double().numpy()
    out = np.zeros((x.shape[0], w.shape[0]))
    for j in range(w.shape[0]):
        row = w[j] if tau is None else w[j] / math.sqrt(
            float(w[j] @ w[j]))**tau
        out[:, j] = x @ row
        if bias is not None:
            out[:, j] += float(bias.detach()[j])
        if scales is not None:
            out[:, j] *= float(scales.detach()[j])
    return out


# -- LWS ----------------------------------------------------------------------
def test_lws_starts_as_the_stage1_head_and_scales_each_class(stage1, feats):
    head = LWSClsHead(C, D)
    missing, unexpected = head.load_state_dict(stage1.state_dict(),
                                               strict=False)
    assert missing == ['scales'] and unexpected == []
    torch.testing.assert_close(head(feats), stage1(feats))  # f = 1
    with torch.no_grad():
        head.scales.copy_(torch.tensor([0.5, 1.0, 2.0, 3.0, 4.0]))
    expected = numpy_logits(feats[0], stage1.fc.weight, stage1.fc.bias,
                            head.scales)
    np.testing.assert_allclose(head(feats).detach().double().numpy(),
                               expected, rtol=1e-5, atol=1e-5)


def test_lws_trains_only_the_scales_by_default(stage1, feats):
    head = LWSClsHead(C, D, loss=dict(type='CrossEntropyLoss'))
    head.load_state_dict(stage1.state_dict(), strict=False)
    assert [n for n, p in head.named_parameters() if p.requires_grad] == [
        'scales']
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    head.loss(feats, samples)['loss'].backward()
    assert head.fc.weight.grad is None and head.fc.bias.grad is None
    # d CE / d f_j = mean_i (p_ij - [y_i = j]) u_ij with u = W x + b
    u = numpy_logits(feats[0], stage1.fc.weight, stage1.fc.bias)
    p = np.exp(u - u.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(C)[labels.numpy()]
    expected = ((p - onehot) * u).mean(0)
    np.testing.assert_allclose(head.scales.grad.double().numpy(), expected,
                               rtol=1e-5, atol=1e-6)


def test_lws_can_fine_tune_the_classifier_too(stage1, feats):
    head = LWSClsHead(C, D, freeze_classifier=False)
    assert all(p.requires_grad for p in head.parameters())
    head(feats).sum().backward()
    assert head.fc.weight.grad is not None and head.scales.grad is not None
    assert 'freeze_classifier=False' in repr(head)


def test_lws_initialisation_keeps_the_scales_at_one():
    head = MODELS.build(dict(type='LWSClsHead', num_classes=C,
                             in_channels=D))
    with torch.no_grad():
        head.scales.mul_(3)
    head.init_weights()
    assert float(head.fc.weight.std()) < 0.05  # normal, std 0.01
    assert torch.equal(head.scales, torch.full((C, ), 3.0))  # untouched
    assert torch.equal(LWSClsHead(C, D).scales, torch.ones(C))


def test_lws_predicts_the_softmax_of_the_scaled_logits(stage1, feats):
    head = LWSClsHead(C, D)
    head.load_state_dict(stage1.state_dict(), strict=False)
    with torch.no_grad():
        head.scales.copy_(torch.tensor([0.1, 1.0, 1.0, 1.0, 9.0]))
    predictions = head.predict(feats)
    scores = torch.stack([p.pred_score for p in predictions])
    torch.testing.assert_close(scores, F.softmax(head(feats), dim=1))


# -- tau-normalisation --------------------------------------------------------
@pytest.mark.parametrize('tau', [0.0, 0.3, 1.0, 1.7])
def test_tau_norm_divides_each_row_by_its_norm_to_the_tau(stage1, feats,
                                                          tau):
    head = TauNormClsHead(C, D, tau=tau)
    missing, unexpected = head.load_state_dict(stage1.state_dict(),
                                               strict=False)
    assert missing == ['tau'] and unexpected == []
    assert float(head.tau) == tau  # not in the stage-1 checkpoint
    expected = numpy_logits(feats[0], stage1.fc.weight, tau=tau)  # no bias
    np.testing.assert_allclose(head(feats).detach().double().numpy(),
                               expected, rtol=1e-5, atol=1e-5)


def test_tau_one_gives_unit_rows_and_tau_zero_the_stage1_weights(stage1):
    head = TauNormClsHead(C, D, tau=1.0)
    head.load_state_dict(stage1.state_dict(), strict=False)
    torch.testing.assert_close(head.normalized_weight().norm(dim=1),
                               torch.ones(C))
    head.set_tau(0)
    assert torch.equal(head.normalized_weight(), stage1.fc.weight)


def test_tau_is_saved_and_restored_with_the_checkpoint(stage1):
    head = TauNormClsHead(C, D)
    head.load_state_dict(stage1.state_dict(), strict=False)
    head.set_tau(0.3)
    state = head.state_dict()
    assert float(state['tau']) == 0.3  # exactly: a float64 buffer
    restored = TauNormClsHead(C, D, tau=1.0)
    restored.load_state_dict(state)
    assert float(restored.tau) == 0.3
    assert 'tau=0.3,' in repr(restored)


def test_a_zero_row_gives_zero_logits_not_nan(feats):
    head = TauNormClsHead(C, D, tau=1.0)
    with torch.no_grad():
        head.fc.weight[2] = 0
    logits = head(feats)
    assert torch.isfinite(logits).all() and torch.equal(
        logits[:, 2], torch.zeros(8))


@pytest.mark.parametrize('tau', [-0.1, math.nan, math.inf, True, '1'])
def test_invalid_tau_is_refused(tau):
    with pytest.raises(ValueError, match='tau must be a finite number'):
        TauNormClsHead(C, D, tau=tau)
    head = TauNormClsHead(C, D)
    with pytest.raises(ValueError, match='tau must be a finite number'):
        head.set_tau(tau)


def test_invalid_eps_is_refused():
    with pytest.raises(ValueError, match='eps must be > 0'):
        TauNormClsHead(C, D, eps=0)


def test_heads_are_registered():
    assert MODELS.get('LWSClsHead') is LWSClsHead
    assert MODELS.get('TauNormClsHead') is TauNormClsHead
