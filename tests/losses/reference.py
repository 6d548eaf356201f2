"""Independent, loop-based formulas the losses are checked against.

They follow the papers' formulas sample by sample in float64, sharing no code
with ``lmfloss_mm``.
"""
import math

import torch


def softmax_row(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    total = sum(e)
    return [v / total for v in e]


def margins(counts, max_m=0.5):
    n_min = min(counts)
    return [max_m * (n_min / n) ** 0.25 for n in counts]


def focal_sample(z, q, gamma, a=None):
    """-sum_j q_j a_j (1 - p_j)^gamma log p_j for one sample."""
    p = softmax_row(z)
    total = 0.0
    for j, qj in enumerate(q):
        if qj:
            w = 1.0 if a is None else a[j]
            total -= qj * w * (1 - p[j]) ** gamma * math.log(p[j])
    return total


def ldam_sample(z, q, delta, s, w=None):
    """-sum_j q_j w_j log softmax(s (z - q * delta))_j for one sample."""
    shifted = [s * (zj - qj * dj) for zj, qj, dj in zip(z, q, delta)]
    p = softmax_row(shifted)
    return -sum(qj * (1.0 if w is None else w[j]) * math.log(p[j])
                for j, qj in enumerate(q) if qj)


def one_hot(y, c):
    return [1.0 if j == y else 0.0 for j in range(c)]


def sample_weight(q, w):
    return sum(qj * wj for qj, wj in zip(q, w))


def rows(tensor):
    return tensor.double().tolist()


def targets(label, c):
    if label.dim() == 1:
        return [one_hot(int(y), c) for y in label]
    return label.double().tolist()


def as_tensor(values):
    return torch.tensor(values, dtype=torch.float64)
