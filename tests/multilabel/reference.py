"""Independent reference of RAL: the released code's ``Ralloss`` (kalelpark/
RAL, models/get_optimizer.py) transcribed element by element with Python
floats (float64), without torch."""
import math


def sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def code_element(x, y, gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-8,
                 lamb=1.5, epsilon_pos=1.0, epsilon_neg=0.0,
                 epsilon_pos_pow=-2.5):
    """The code's per-element loss (before its ``-sum``), for any y: the
    code's own interpolation of p_t and gamma with y."""
    x_sigmoid = sigmoid(x)
    xs_pos = x_sigmoid
    xs_neg = 1 - x_sigmoid
    if clip is not None and clip > 0:
        xs_neg = min(xs_neg + clip, 1.0)
    pc = max(xs_pos, eps)
    nc = max(xs_neg, eps)
    los_pos = y * (math.log(pc) + epsilon_pos * (1 - pc) +
                   epsilon_pos_pow * 0.5 * (1 - pc) ** 2)
    los_neg = (1 - y) * (math.log(nc) + epsilon_neg * nc) * \
        (lamb - x_sigmoid) * x_sigmoid ** 2 * (lamb - xs_neg)
    loss = los_pos + los_neg
    if gamma_neg > 0 or gamma_pos > 0:
        pt = xs_pos * y + xs_neg * (1 - y)
        one_sided_gamma = gamma_pos * y + gamma_neg * (1 - y)
        loss *= (1 - pt) ** one_sided_gamma
    return -loss


def expected_element(x, y, **kw):
    """The implemented form: the expectation of the hard code loss under
    the soft target ``y`` (equal to :func:`code_element` for y in {0, 1})."""
    return y * code_element(x, 1.0, **kw) + (1 - y) * code_element(x, 0.0,
                                                                   **kw)


def expected_matrix(logits, targets, **kw):
    """``(N, C)`` nested lists of :func:`expected_element`."""
    return [[expected_element(float(x), float(y), **kw)
             for x, y in zip(row, trow)]
            for row, trow in zip(logits.tolist(), targets.tolist())]


def hill_factor(x, clip=0.05, lamb=1.5):
    """``(lamb - p) p^2 (lamb - q)``: RAL's negative term over ASL's."""
    p = sigmoid(x)
    q = min(1 - p + clip, 1.0)
    return (lamb - p) * p ** 2 * (lamb - q)
