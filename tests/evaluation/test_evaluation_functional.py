"""Unit tests of lmfloss_mm.evaluation.functional (pure NumPy)."""
import numpy as np
import pytest
import torch
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from lmfloss_mm.evaluation.functional import (average_ranks, binary_roc_auc,
                                              confusion_matrix,
                                              expected_calibration_error,
                                              logit_adjusted_probs,
                                              precision_recall_f1_support,
                                              shot_group_accuracy)
from lmfloss_mm.evaluation.metrics import ImbalancedClsMetric


def ece_loop(confidence, correct, n_bins):
    """Straightforward reference ECE (Guo et al. 2017), bins (lo, hi]."""
    n = len(confidence)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [
            i for i in range(n)
            if (confidence[i] > lo or (b == 0 and confidence[i] == 0))
            and confidence[i] <= hi
        ]
        if not members:
            continue
        acc = sum(correct[i] for i in members) / len(members)
        conf = sum(confidence[i] for i in members) / len(members)
        total += len(members) / n * abs(acc - conf)
    return total


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_average_ranks_matches_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, size=40).astype(float)  # many ties
    np.testing.assert_allclose(average_ranks(values), rankdata(values))


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
def test_binary_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    positive = rng.random(50) < 0.3
    scores = np.round(rng.random(50) + 0.3 * positive, 1)  # ties
    assert len(np.unique(scores)) < 50
    assert binary_roc_auc(positive, scores) == pytest.approx(
        roc_auc_score(positive, scores), abs=1e-12)


def test_binary_auc_hand_values():
    # perfect separation, reversed, and all tied
    assert binary_roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert binary_roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert binary_roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    # one positive/negative pair tied, the other three ordered: 3.5 / 4
    assert binary_roc_auc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == 0.875
    assert np.isnan(binary_roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert np.isnan(binary_roc_auc([0, 0], [0.1, 0.2]))


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('n_bins', [1, 5, 15])
def test_ece_matches_loop(seed, n_bins):
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.2, 1.0, size=200)
    correct = rng.random(200) < confidence
    assert expected_calibration_error(confidence, correct, n_bins) == \
        pytest.approx(ece_loop(confidence, correct, n_bins), abs=1e-12)


def test_ece_hand_value_and_bin_edges():
    # bin (0.9, 1.0]: conf .95, acc .5 -> 2/4 * .45; bin (0.6, 0.7]: conf .65,
    # acc 1 -> 2/4 * .35.  Total 0.4.
    conf = [0.95, 0.95, 0.65, 0.65]
    correct = [1, 0, 1, 1]
    assert expected_calibration_error(conf, correct, 10) == pytest.approx(0.4)
    # a confidence on an edge belongs to the lower bin: with 2 bins, 0.5
    # (right) sits alone in (0, 0.5] -> |1 - .5| / 2, and 0.9 (wrong) in
    # (0.5, 1] -> |0 - .9| / 2; total 0.7 (0.2 if 0.5 went up a bin)
    assert expected_calibration_error([0.5, 0.9], [1, 0], 2) == \
        pytest.approx(0.7)
    assert ece_loop([0.5, 0.9], [1, 0], 2) == pytest.approx(0.7)
    assert expected_calibration_error([1.0], [1], 15) == 0.0


def test_confusion_matrix_and_zero_division():
    # class 2 absent from gt and predictions, class 1 never predicted
    cm = confusion_matrix([0, 0, 0, 3], [0, 1, 3, 3], 4)
    assert cm.tolist() == [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0],
                           [1, 0, 0, 1]]
    precision, recall, f1, support = precision_recall_f1_support(cm)
    np.testing.assert_allclose(precision, [1 / 3, 0, 0, 1])
    np.testing.assert_allclose(recall, [1, 0, 0, 0.5])
    np.testing.assert_allclose(f1, [0.5, 0, 0, 2 / 3])
    assert support.tolist() == [1, 1, 0, 2]


def test_shot_groups_boundaries():
    recall = np.array([1.0, 0.5, 0.25, 0.0, 0.75])
    support = np.array([4, 4, 4, 4, 4])
    # 100 and 20 are both medium (inclusive), OLTR convention
    out = shot_group_accuracy(recall, support, [1000, 100, 50, 20, 5],
                              (100, 20))
    assert out == pytest.approx(
        dict(many_shot_acc=1.0, medium_shot_acc=0.25, few_shot_acc=0.75))
    # class without evaluation samples is skipped; empty groups omitted
    out = shot_group_accuracy(recall, np.array([4, 0, 4, 4, 0]),
                              [1000, 100, 50, 20, 5], (100, 20))
    assert out == pytest.approx(
        dict(many_shot_acc=1.0, medium_shot_acc=0.125))
    assert shot_group_accuracy(recall, support, [500] * 5, (100, 20)) == \
        pytest.approx(dict(many_shot_acc=0.5))


def test_logit_adjusted_probs_hand_value():
    probs = logit_adjusted_probs(np.array([[0.6, 0.4]]), [900, 100], 1.0)
    # softmax(log(.6/.9), log(.4/.1)) = (2/3, 4) / (14/3)
    np.testing.assert_allclose(probs, [[1 / 7, 6 / 7]])
    # tau = 0 is the identity on probabilities
    np.testing.assert_allclose(
        logit_adjusted_probs(np.array([[0.6, 0.4]]), [900, 100], 0.0),
        [[0.6, 0.4]])
    # a zero probability stays finite
    assert np.isfinite(
        logit_adjusted_probs(np.array([[1.0, 0.0]]), [1, 1], 1.0)).all()
    with pytest.raises(ValueError, match='training count > 0'):
        logit_adjusted_probs(np.array([[0.6, 0.4]]), [900, 0], 1.0)


def test_ece_against_loop_through_metric():
    rng = np.random.default_rng(7)
    target = rng.integers(0, 5, size=120)
    logits = rng.normal(size=(120, 5))
    logits[np.arange(120), target] += 1.0
    scores = torch.softmax(torch.as_tensor(logits), 1).float().numpy()
    metric = ImbalancedClsMetric(ece_bins=10)
    metric.process(None, [
        dict(pred_score=torch.from_numpy(s), gt_label=torch.tensor([t]))
        for s, t in zip(scores, target)
    ])
    out = metric.compute_metrics(metric.results)
    conf = scores.astype(np.float64).max(1)
    correct = scores.argmax(1) == target
    assert out['ece'] == pytest.approx(100 * ece_loop(conf, correct, 10),
                                       abs=1e-9)
    assert out['ece'] > 1  # not trivially 0
