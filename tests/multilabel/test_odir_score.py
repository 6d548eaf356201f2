"""ODIRScore against scikit-learn on the flattened arrays, as the ODIR-5K
challenge's evaluation computes it; the metric's inputs, keys and errors."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample
from sklearn.metrics import cohen_kappa_score, f1_score, roc_auc_score

from lmfloss_mm.evaluation.metrics import ODIRScore
from lmfloss_mm.evaluation.metrics.odir_score import (cohen_kappa,
                                                      odir_challenge_scores)


def challenge(gt, pr, th=0.5):
    """The challenge's evaluation: flatten, ``pr > th``, scikit-learn."""
    gt, pr = gt.flatten(), pr.flatten()
    kappa = cohen_kappa_score(gt, pr > th)
    f1 = f1_score(gt, pr > th, average='micro')
    auc = roc_auc_score(gt, pr)
    return dict(kappa=kappa, f1=f1, auc=auc,
                final_score=(kappa + f1 + auc) / 3.0)


def predictions(seed, n=40, c=8, quantize=False):
    rng = np.random.default_rng(seed)
    gt = (rng.random((n, c)) < 0.2).astype(np.float64)
    scores = np.clip(0.6 * gt + rng.random((n, c)) * 0.6, 0, 1)
    if quantize:  # ties, and scores of exactly 0.5
        scores = np.round(scores * 4) / 4
    return gt, scores


@pytest.mark.parametrize('seed,quantize,thr', [(0, False, 0.5),
                                               (1, True, 0.5),
                                               (2, True, 0.25),
                                               (3, False, 0.7)])
def test_scores_equal_scikit_learn_on_the_flattened_pairs(seed, quantize,
                                                          thr):
    gt, scores = predictions(seed, quantize=quantize)
    if quantize:
        assert (scores == thr).any()  # the strict '>' matters here
    got = odir_challenge_scores(gt, scores, thr)
    for key, value in challenge(gt, scores, thr).items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_the_challenge_f1_is_the_accuracy_of_the_decisions():
    gt, scores = predictions(4)
    decisions = scores.flatten() > 0.5
    assert odir_challenge_scores(gt, scores)['f1'] == pytest.approx(
        np.mean(decisions == gt.flatten().astype(bool)))
    # not the F1 of the positive answer
    assert odir_challenge_scores(gt, scores)['f1'] != pytest.approx(
        f1_score(gt.flatten(), decisions))


def test_kappa_is_undefined_when_both_raters_never_change():
    assert np.isnan(cohen_kappa(np.ones(5, bool), np.ones(5, bool)))
    assert cohen_kappa(np.array([1, 0, 1, 0], bool),
                       np.array([1, 0, 1, 0], bool)) == 1.0


def samples(gt, scores, as_label=False):
    out = []
    for target, score in zip(gt, scores):
        sample = DataSample().set_pred_score(torch.tensor(score))
        if as_label:
            sample.set_gt_label(torch.nonzero(torch.tensor(target)).flatten())
        else:
            sample.set_gt_score(torch.tensor(target))
        out.append(sample.to_dict())
    return out


@pytest.mark.parametrize('as_label', [False, True],
                         ids=['gt_score', 'gt_label'])
def test_the_metric_reports_the_challenge_numbers(as_label):
    gt, scores = predictions(5)
    evaluator = Evaluator([METRICS.build(dict(type='ODIRScore'))])
    evaluator.process(samples(gt[:25], scores[:25], as_label))
    evaluator.process(samples(gt[25:], scores[25:], as_label))
    got = evaluator.evaluate(len(gt))
    expected = challenge(gt, scores)
    assert set(got) == {f'odir/{k}' for k in expected}
    for key, value in expected.items():
        assert got[f'odir/{key}'] == pytest.approx(value, abs=1e-12), key
    assert METRICS.get('ODIRScore') is ODIRScore


def test_prefix_and_threshold():
    gt, scores = predictions(6)
    metric = ODIRScore(thr=0.3, prefix='challenge')
    metric.process(None, samples(gt, scores))
    got = metric.evaluate(len(gt))
    assert got['challenge/kappa'] == pytest.approx(
        challenge(gt, scores, 0.3)['kappa'])
    for thr in (0.0, 1.0):
        with pytest.raises(ValueError, match=r'thr must be in \(0, 1\)'):
            ODIRScore(thr=thr)


@pytest.mark.parametrize('change,message', [
    (lambda gt, s: (gt * 0.5, s), '0/1 ground truth'),
    (lambda gt, s: (gt, s * 3 - 1), r'probabilities in \[0, 1\]'),
])
def test_invalid_inputs_are_refused(change, message):
    gt, scores = change(*predictions(7))
    metric = ODIRScore()
    metric.process(None, samples(gt, scores))
    with pytest.raises(ValueError, match=message):
        metric.evaluate(len(gt))


def test_a_sample_without_scores_is_refused():
    with pytest.raises(ValueError, match='needs pred_score'):
        ODIRScore().process(None, [DataSample().set_gt_label(1).to_dict()])


def test_an_undefined_score_is_nan():
    gt = np.zeros((4, 8))
    metric = ODIRScore()
    metric.process(None, samples(gt, np.full((4, 8), 0.2)))
    got = metric.evaluate(4)
    assert np.isnan(got['odir/auc']) and np.isnan(got['odir/final_score'])
