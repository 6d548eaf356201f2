"""What SoftmaxFocalLoss's docstring says about the focal losses of the
official LMF code and of the LDAM-DRW code, checked against transcriptions
of both."""
import pytest
import torch
import torch.nn.functional as F

from lmfloss_mm.models.losses import SoftmaxFocalLoss

WEIGHTS = [0.3, 1.0, 2.0, 0.7, 1.5]


def lmf_code_focal(x, y, alpha, gamma):
    """``FocalLoss.forward`` of AdeelH/pytorch-multi-class-focal-loss (the
    focal loss the official LMF code loads), transcribed."""
    log_p = F.log_softmax(x, dim=-1)
    ce = F.nll_loss(log_p, y, weight=alpha, reduction='none')
    pt = log_p[torch.arange(len(x)), y].exp()
    return ((1 - pt)**gamma * ce).mean()


def ldam_drw_code_focal(x, y, weight, gamma):
    """``FocalLoss`` of kaidic/LDAM-DRW (losses.py), transcribed."""
    input_values = F.cross_entropy(x, y, reduction='none', weight=weight)
    p = torch.exp(-input_values)
    return ((1 - p)**gamma * input_values).mean()


@pytest.mark.parametrize('gamma', [0.5, 1.0, 1.5])
def test_the_lmf_codes_focal_loss_with_and_without_weights(batch, gamma):
    logits, labels, _, _ = batch
    weights = torch.tensor(WEIGHTS, dtype=torch.float64)
    torch.testing.assert_close(
        SoftmaxFocalLoss(gamma=gamma)(logits, labels),
        lmf_code_focal(logits, labels, None, gamma))
    torch.testing.assert_close(
        SoftmaxFocalLoss(gamma=gamma, class_weight=WEIGHTS)(logits, labels),
        lmf_code_focal(logits, labels, weights, gamma))


@pytest.mark.parametrize('gamma', [0.5, 1.0, 1.5])
def test_the_ldam_drw_codes_focal_loss_agrees_only_without_weights(batch,
                                                                   gamma):
    logits, labels, _, _ = batch
    torch.testing.assert_close(
        SoftmaxFocalLoss(gamma=gamma)(logits, labels),
        ldam_drw_code_focal(logits, labels, None, gamma))
    weights = torch.tensor(WEIGHTS, dtype=torch.float64)
    ours = SoftmaxFocalLoss(gamma=gamma, class_weight=WEIGHTS,
                            reduction='none')(logits, labels)
    theirs = ldam_drw_code_focal(logits, labels, weights, gamma)
    assert not torch.allclose(ours.mean(), theirs)
    # the LDAM-DRW factor is (1 - p_y ** w_y) ** gamma
    p_y = F.softmax(logits, 1).gather(1, labels[:, None]).squeeze(1)
    w_y = weights[labels]
    ce_w = -w_y * p_y.log()
    torch.testing.assert_close(theirs, ((1 - p_y**w_y)**gamma * ce_w).mean())
    torch.testing.assert_close(ours, (1 - p_y)**gamma * ce_w)
