"""The pieces the losses share (lmfloss_mm.models.losses.utils), against
formulas written out here: per-sample class weights, the soft-target
expectation and the focusing factor."""
import torch

from lmfloss_mm.models.losses.utils import (focusing_weight,
                                            sample_coefficient,
                                            soft_target_nll,
                                            target_class_weight)

W = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)


def test_class_weight_of_each_target():
    hard = torch.tensor([1, 0, 2, 1])
    soft = torch.tensor([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]],
                        dtype=torch.float64)
    assert target_class_weight(hard, W).tolist() == [2.0, 0.5, 1.0, 2.0]
    assert torch.allclose(target_class_weight(soft, W),
                          torch.tensor([0.2 * 0.5 + 0.8 * 2.0, 1.0],
                                       dtype=torch.float64))
    logits = torch.zeros(4, 3, dtype=torch.float64)
    assert sample_coefficient(logits, hard, None, 1.5).tolist() == [1.5] * 4
    assert sample_coefficient(logits, hard, W, 2.0).tolist() == [
        4.0, 1.0, 2.0, 4.0]
    mean = (2.0 + 0.5 + 1.0 + 2.0) / 4
    assert torch.allclose(
        sample_coefficient(logits, hard, W, normalize=True),
        torch.tensor([2.0, 0.5, 1.0, 2.0], dtype=torch.float64) / mean)


def test_soft_target_expectation():
    log_p = torch.log_softmax(torch.tensor([[1.0, -2.0, 0.5]],
                                           dtype=torch.float64), dim=1)
    q = torch.tensor([[0.7, 0.1, 0.2]], dtype=torch.float64)
    m = torch.tensor([[0.3, 0.9, 0.5]], dtype=torch.float64)
    expected = -sum(float(q[0, j] * W[j] * m[0, j] * log_p[0, j])
                    for j in range(3))
    assert abs(float(soft_target_nll(log_p, q, W, m)) - expected) < 1e-12
    assert abs(float(soft_target_nll(log_p, q)) +
               float((q * log_p).sum())) < 1e-12


def test_focusing_weight():
    base = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64,
                        requires_grad=True)
    assert focusing_weight(base, 0).tolist() == [1.0, 1.0, 1.0]  # 0 ** 0
    weight = focusing_weight(base, 0.5)
    assert torch.allclose(weight[1:], torch.tensor([0.5, 1.0],
                                                   dtype=torch.float64))
    weight.sum().backward()
    assert torch.isfinite(base.grad).all()  # no inf * 0 at base 0
    gamma = torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64)
    assert torch.allclose(focusing_weight(base.detach(), gamma)[1:],
                          torch.tensor([1.0, 1.0], dtype=torch.float64))
