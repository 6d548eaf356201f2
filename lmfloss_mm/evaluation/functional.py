"""Pure NumPy functions behind :class:`ImbalancedClsMetric`.

Every function works on plain arrays, so it can be unit-tested and reused
outside MMEngine.  Rates are returned as fractions in ``[0, 1]``; the metric
class converts them to percent.  No function imports scikit-learn; the
definitions follow scikit-learn's so that the tests can compare with it.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'confusion_matrix', 'precision_recall_f1_support', 'balanced_accuracy',
    'shot_group_accuracy', 'average_ranks', 'binary_roc_auc',
    'roc_auc_ovr', 'calibration_bins', 'expected_calibration_error',
    'logit_adjusted_probs', 'softmax', 'SHOT_THRESHOLDS', 'shot_groups'
]

#: ``(many, few)`` training-count thresholds of the shot groups (OLTR, Liu
#: et al., CVPR 2019): many-shot ``n > many``, medium ``few <= n <= many``,
#: few-shot ``n < few``.
SHOT_THRESHOLDS = (100, 20)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise ``num / den`` with ``0`` wherever ``den == 0``.

    This is scikit-learn's ``zero_division=0``.
    """
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def confusion_matrix(pred: np.ndarray, target: np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Confusion matrix, rows = ground truth, columns = prediction.

    Args:
        pred (np.ndarray): Predicted labels, shape (N, ), ints in
            ``[0, num_classes)``.
        target (np.ndarray): Ground-truth labels, shape (N, ), ints in
            ``[0, num_classes)``.
        num_classes (int): Number of classes C.

    Returns:
        np.ndarray: int64 array of shape (C, C); ``cm[i, j]`` counts samples
        of class ``i`` predicted as ``j``.
    """
    pred = np.asarray(pred, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    flat = target * num_classes + pred
    return np.bincount(
        flat, minlength=num_classes * num_classes).reshape(
            num_classes, num_classes)


def precision_recall_f1_support(
    cm: np.ndarray
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix.

    Zero denominators give 0 (scikit-learn's ``zero_division=0``), so a class
    never predicted has precision 0, a class absent from the ground truth has
    recall 0, and a class absent from both has precision = recall = F1 = 0.
    F1 is ``2 TP / (2 TP + FP + FN)``, which equals the harmonic mean of
    precision and recall.

    Args:
        cm (np.ndarray): (C, C) confusion matrix, rows = ground truth.

    Returns:
        tuple: ``precision``, ``recall``, ``f1`` (float64 fractions) and
        ``support`` (int64 ground-truth counts), each of shape (C, ).
    """
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * tp, support + predicted)
    return precision, recall, f1, support.astype(np.int64)


def balanced_accuracy(recall: np.ndarray, support: np.ndarray) -> float:
    """Mean recall over the classes present in the ground truth.

    This is scikit-learn's ``balanced_accuracy_score``: classes without
    evaluation samples have an undefined recall and are left out.  It equals
    the macro recall whenever every class occurs in the ground truth.

    Args:
        recall (np.ndarray): Per-class recall, shape (C, ).
        support (np.ndarray): Per-class ground-truth counts, shape (C, ).

    Returns:
        float: Balanced accuracy as a fraction.
    """
    present = np.asarray(support) > 0
    return float(np.mean(np.asarray(recall)[present]))


def shot_groups(train_counts: Sequence[int],
                thresholds: Tuple[int, int] = SHOT_THRESHOLDS) -> np.ndarray:
    """``'many'``, ``'medium'`` or ``'few'`` for every class from its
    training count (see :data:`SHOT_THRESHOLDS`).

    Args:
        train_counts (Sequence[int]): Per-class training counts.
        thresholds (tuple[int, int]): ``(many, few)``, ``many >= few``.

    Returns:
        np.ndarray: (C, ) array of group names.
    """
    many, few = thresholds
    counts = np.asarray(train_counts)
    return np.where(counts > many, 'many',
                    np.where(counts >= few, 'medium', 'few'))


def shot_group_accuracy(
        recall: np.ndarray, support: np.ndarray,
        train_counts: Sequence[int],
        thresholds: Tuple[int, int] = SHOT_THRESHOLDS) -> Dict[str, float]:
    """Many / medium / few-shot accuracy (OLTR, Liu et al., CVPR 2019).

    Classes are grouped by their **training** count (:func:`shot_groups`).
    Each group reports the mean per-class recall of its classes that have at
    least one evaluation sample (others have no defined recall).  A group
    without such classes is left out of the returned dict.

    Args:
        recall (np.ndarray): Per-class recall, shape (C, ).
        support (np.ndarray): Per-class evaluation counts, shape (C, ).
        train_counts (Sequence[int]): Per-class training counts, length C.
        thresholds (tuple[int, int]): ``(many_thr, few_thr)``.
            Defaults to :data:`SHOT_THRESHOLDS`.

    Returns:
        dict: Subset of ``many_shot_acc``, ``medium_shot_acc``,
        ``few_shot_acc`` mapped to fractions.
    """
    groups = shot_groups(train_counts, thresholds)
    evaluated = np.asarray(support) > 0
    out = {}
    for group in ('many', 'medium', 'few'):
        mask = (groups == group) & evaluated
        if mask.any():
            out[f'{group}_shot_acc'] = float(np.mean(np.asarray(recall)[mask]))
    return out


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``; tied values share their average rank.

    Equivalent to ``scipy.stats.rankdata(values, method='average')``.

    Args:
        values (np.ndarray): 1-D array.

    Returns:
        np.ndarray: float64 ranks, same shape as ``values``.
    """
    values = np.asarray(values)
    _, inverse, counts = np.unique(
        values, return_inverse=True, return_counts=True)
    # rank of the first element of each tie group, 1-based
    first = np.cumsum(counts) - counts + 1
    mean_rank = first + (counts - 1) / 2.0
    return mean_rank[inverse.reshape(-1)]


def binary_roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney U) formula.

    ``AUC = (R_pos - P (P + 1) / 2) / (P N)`` with ``R_pos`` the sum of the
    average ranks of the positives, P positives and N negatives.  Average
    ranks count a tied positive/negative pair as 1/2, which equals the
    trapezoidal area under the ROC curve (scikit-learn's ``roc_auc_score``).

    Args:
        positive (np.ndarray): Boolean mask of positives, shape (N, ).
        scores (np.ndarray): Scores, higher means more positive, shape (N, ).

    Returns:
        float: AUC in ``[0, 1]``, or ``nan`` when there are no positives or
        no negatives.
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    rank_sum = average_ranks(scores)[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc_ovr(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC of every class.

    Args:
        scores (np.ndarray): (N, C) class scores.
        target (np.ndarray): (N, ) ground-truth labels.

    Returns:
        np.ndarray: (C, ) AUC fractions; ``nan`` for a class without
        positives or without negatives in ``target``.
    """
    target = np.asarray(target)
    return np.array([
        binary_roc_auc(target == c, scores[:, c])
        for c in range(scores.shape[1])
    ], dtype=np.float64)


def calibration_bins(confidence: np.ndarray, correct: np.ndarray,
                     n_bins: int = 15) -> Dict[str, np.ndarray]:
    """Equal-width confidence bins (Guo et al., 2017).

    Bin ``b`` holds the samples with confidence in ``(b / n_bins,
    (b + 1) / n_bins]``; the first bin also holds confidence 0.

    Args:
        confidence (np.ndarray): Top-1 confidence, shape (N, ), in [0, 1].
        correct (np.ndarray): Whether the top-1 prediction is right, (N, ).
        n_bins (int): Number of bins. Defaults to 15.

    Returns:
        dict: ``edges`` (n_bins + 1, ), ``count`` (int64), ``accuracy`` and
        ``confidence`` (means per bin, 0 for empty bins), each (n_bins, ).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted(side='left') - 1 puts x in bin b iff
    # edges[b] < x <= edges[b + 1]
    bins = np.clip(np.searchsorted(edges, confidence, side='left') - 1, 0,
                   n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    return dict(
        edges=edges,
        count=count.astype(np.int64),
        accuracy=_safe_div(np.bincount(bins, correct, n_bins), count),
        confidence=_safe_div(np.bincount(bins, confidence, n_bins), count))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               n_bins: int = 15) -> float:
    """Expected calibration error with equal-width bins (Guo et al., 2017).

    ``ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` over the bins of
    :func:`calibration_bins`; empty bins contribute nothing.

    Args:
        confidence (np.ndarray): Top-1 confidence, shape (N, ), in [0, 1].
        correct (np.ndarray): Whether the top-1 prediction is right, (N, ).
        n_bins (int): Number of bins. Defaults to 15.

    Returns:
        float: ECE as a fraction.
    """
    bins = calibration_bins(confidence, correct, n_bins)
    gaps = np.abs(bins['accuracy'] - bins['confidence']) * bins['count']
    return float(gaps.sum() / max(1, bins['count'].sum()))


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a (N, C) array, stable for large values."""
    x = x - np.max(x, axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def logit_adjusted_probs(scores: np.ndarray, train_counts: Sequence[int],
                         tau: float,
                         eps: Optional[float] = None) -> np.ndarray:
    """Post-hoc logit adjustment (Menon et al., ICLR 2021).

    Adjusted log-scores are ``log p_j - tau * log pi_j`` with the class prior
    ``pi_j = n_j / sum(n)`` from the training counts; the returned
    probabilities are their softmax (so the argmax is the adjusted
    prediction).  Since ``pred_score`` is already a softmax, ``log p_j`` equals
    the logit up to a per-sample constant, so this is the paper's
    ``argmax_j f_j(x) - tau log pi_j``.

    Args:
        scores (np.ndarray): (N, C) predicted probabilities.
        train_counts (Sequence[int]): Per-class training counts (all > 0).
        tau (float): Adjustment strength.
        eps (float, optional): Floor applied to ``scores`` before the log.
            Defaults to the smallest positive float64.

    Returns:
        np.ndarray: (N, C) adjusted probabilities.
    """
    counts = np.asarray(train_counts, dtype=np.float64)
    if np.any(counts <= 0):
        raise ValueError('Logit adjustment needs every training count > 0, '
                         f'got {list(np.asarray(train_counts).tolist())}.')
    eps = np.finfo(np.float64).tiny if eps is None else eps
    log_prior = np.log(counts / counts.sum())
    log_p = np.log(np.maximum(np.asarray(scores, dtype=np.float64), eps))
    return softmax(log_p - tau * log_prior[None, :])
