"""Independent loop formulas for the re-weighting losses (float64, one sample
at a time, sharing no code with ``lmfloss_mm``)."""
import math


def softmax_row(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    total = sum(e)
    return [v / total for v in e]


def cb_weights(counts, beta):
    """Cui et al.: (1 - beta) / (1 - beta^n_j), normalised to sum to C."""
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    return [r * len(counts) / sum(raw) for r in raw]


def inverse_weights(counts):
    raw = [1 / n for n in counts]
    return [r * len(counts) / sum(raw) for r in raw]


def bwcce_weights(counts):
    """Official LMF code: (1 - n_j / N) / (K - 1)."""
    total = sum(counts)
    return [(1 - n / total) / (len(counts) - 1) for n in counts]


def focal_ce_sample(z, q, w=None, gamma=0.0, bias=None):
    """-sum_j q_j w_j (1 - p_j)^gamma log p_j, p = softmax(z + bias)."""
    shifted = z if bias is None else [a + b for a, b in zip(z, bias)]
    p = softmax_row(shifted)
    total = 0.0
    for j, qj in enumerate(q):
        if qj:
            wj = 1.0 if w is None else w[j]
            total -= qj * wj * (1 - p[j])**gamma * math.log(p[j])
    return total


def omega(q, w):
    """The class weight of a (soft) target: sum_j q_j w_j."""
    return sum(qj * wj for qj, wj in zip(q, w))


def one_hot(y, c):
    return [1.0 if j == y else 0.0 for j in range(c)]


def targets(label, c):
    if label.dim() == 1:
        return [one_hot(int(y), c) for y in label]
    return label.double().tolist()
