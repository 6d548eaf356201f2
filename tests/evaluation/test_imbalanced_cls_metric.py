"""Tests of ImbalancedClsMetric against scikit-learn and hand-made cases."""
import json
import os
import socket
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

import lmfloss_mm  # noqa: F401  (registers the metric)
from lmfloss_mm.evaluation.metrics import ImbalancedClsMetric
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

SCALAR_KEYS = [
    'accuracy', 'balanced_accuracy', 'macro_precision', 'macro_recall',
    'macro_f1', 'weighted_f1'
]
LIST_KEYS = [
    'precision_classwise', 'recall_classwise', 'f1_classwise',
    'support_classwise', 'confusion_matrix'
]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def samples_from(scores, target):
    """Data samples in the dict form the Evaluator passes to metrics."""
    return [
        dict(pred_score=torch.as_tensor(s, dtype=torch.float32),
             gt_label=torch.tensor([int(t)])) for s, t in zip(scores, target)
    ]


def evaluate(metric, scores, target, batch_size=7):
    samples = samples_from(scores, target)
    for i in range(0, len(samples), batch_size):
        metric.process(None, samples[i:i + batch_size])
    return metric.compute_metrics(metric.results)


def random_case(seed, num_classes, n=90):
    """Random softmax scores where, for C >= 5, class C-1 never occurs in
    the ground truth and is never predicted, and class 0 occurs in the
    ground truth but is never predicted.  For C = 2, class 1 is never
    predicted."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, num_classes))
    if num_classes >= 5:
        target = rng.integers(0, num_classes - 1, size=n)
        logits[:, [0, num_classes - 1]] -= 10.0
        logits[np.arange(n), target] += 1.0  # better than chance
    else:
        target = rng.integers(0, num_classes, size=n)
        logits[:, 1] -= 10.0
        logits[:, 0] += 0.3 * (target == 0)
    scores = torch.softmax(torch.as_tensor(logits), 1).float().numpy()
    return scores, target


def sklearn_reference(scores, target, num_classes):
    labels = list(range(num_classes))
    pred = scores.argmax(1)
    p, r, f, s = skm.precision_recall_fscore_support(
        target, pred, labels=labels, zero_division=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # 'y_pred contains classes not in'
        bacc = skm.balanced_accuracy_score(target, pred)
    ref = dict(
        accuracy=skm.accuracy_score(target, pred),
        balanced_accuracy=bacc,
        macro_precision=skm.precision_score(
            target, pred, labels=labels, average='macro', zero_division=0),
        macro_recall=skm.recall_score(
            target, pred, labels=labels, average='macro', zero_division=0),
        macro_f1=skm.f1_score(
            target, pred, labels=labels, average='macro', zero_division=0),
        weighted_f1=skm.f1_score(
            target, pred, labels=labels, average='weighted',
            zero_division=0),
    )
    ref = {k: 100 * v for k, v in ref.items()}
    ref.update(
        precision_classwise=100 * p,
        recall_classwise=100 * r,
        f1_classwise=100 * f,
        support_classwise=s,
        confusion_matrix=skm.confusion_matrix(target, pred, labels=labels))
    valid = [c for c in labels if 0 < (target == c).sum() < len(target)]
    ref['auc_macro'] = 100 * np.mean(
        [skm.roc_auc_score(target == c, scores[:, c]) for c in valid])
    return ref, valid


# --------------------------------------------------------------------------
# against scikit-learn
# --------------------------------------------------------------------------
@pytest.mark.parametrize('num_classes', [2, 5, 8])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_sklearn(seed, num_classes):
    scores, target = random_case(seed, num_classes)
    pred = scores.argmax(1)
    # the case really contains the edge cases it is meant to cover
    assert 1 not in pred if num_classes == 2 else 0 not in pred
    if num_classes >= 5:
        assert num_classes - 1 not in target
        assert num_classes - 1 not in pred

    metric = ImbalancedClsMetric(num_classes=num_classes)
    if num_classes >= 5:
        absent = rf'class\(es\) {num_classes - 1} '
        with pytest.warns(UserWarning, match=absent):
            out = evaluate(metric, scores, target)
    else:
        out = evaluate(metric, scores, target)
    ref, valid = sklearn_reference(scores, target, num_classes)

    assert list(out) == SCALAR_KEYS + ['auc_macro', 'ece'] + LIST_KEYS
    for key in SCALAR_KEYS + ['auc_macro']:
        assert isinstance(out[key], float), key
        assert out[key] == pytest.approx(ref[key], abs=1e-9), key
    for key in LIST_KEYS[:3]:
        np.testing.assert_allclose(out[key], ref[key], atol=1e-9)
    assert out['support_classwise'] == ref['support_classwise'].tolist()
    assert out['confusion_matrix'] == ref['confusion_matrix'].tolist()
    assert all(type(v) is int for row in out['confusion_matrix'] for v in row)

    if num_classes >= 5:
        # absent class: excluded from balanced accuracy, 0 in macro recall
        assert out['balanced_accuracy'] > out['macro_recall']
        assert out['balanced_accuracy'] == pytest.approx(
            out['macro_recall'] * num_classes / (num_classes - 1))
        assert valid == list(range(num_classes - 1))
        # the same through one sklearn call: macro AUC of the one-vs-rest
        # indicator columns of the classes that have both kinds of samples
        onehot = label_binarize(target, classes=valid)
        assert out['auc_macro'] == pytest.approx(
            100 * skm.roc_auc_score(onehot, scores[:, valid],
                                    average='macro'), abs=1e-9)
    else:
        assert out['balanced_accuracy'] == pytest.approx(out['macro_recall'])


@pytest.mark.parametrize('seed', [3, 4])
def test_auc_matches_sklearn_ovr_macro_all_classes_present(seed):
    rng = np.random.default_rng(seed)
    target = np.arange(60) % 4
    logits = rng.normal(size=(60, 4))
    logits[np.arange(60), target] += 1.0
    scores = torch.softmax(torch.as_tensor(logits), 1).float().numpy()
    out = evaluate(ImbalancedClsMetric(), scores, target)
    assert out['auc_macro'] == pytest.approx(
        100 * skm.roc_auc_score(
            target, scores, multi_class='ovr', average='macro'), abs=1e-9)
    # with ties in the scores (per-class binary reference)
    tied = np.round(scores, 1)
    out = evaluate(ImbalancedClsMetric(), tied, target)
    ref = np.mean(
        [skm.roc_auc_score(target == c, tied[:, c]) for c in range(4)])
    assert out['auc_macro'] == pytest.approx(100 * ref, abs=1e-9)


# --------------------------------------------------------------------------
# shot groups
# --------------------------------------------------------------------------
def shot_case():
    """5 classes, 4 eval samples each; recall 100, 50, 25, 0, 75 %."""
    target = np.repeat(np.arange(5), 4)
    pred = target.copy()
    pred[4:6] = 0       # class 1: 2/4 right
    pred[8:11] = 0      # class 2: 1/4 right
    pred[12:16] = 4     # class 3: 0/4 right
    pred[16] = 0        # class 4: 3/4 right
    scores = np.full((20, 5), 0.1)
    scores[np.arange(20), pred] = 0.6
    return scores, target


def test_shot_groups_hand_made():
    scores, target = shot_case()
    out = evaluate(
        ImbalancedClsMetric(cls_num_list=[1000, 100, 50, 20, 5]), scores,
        target)
    np.testing.assert_allclose(out['recall_classwise'], [100, 50, 25, 0, 75])
    assert out['many_shot_acc'] == pytest.approx(100.0)   # class 0
    assert out['medium_shot_acc'] == pytest.approx(25.0)  # classes 1, 2, 3
    assert out['few_shot_acc'] == pytest.approx(75.0)     # class 4
    keys = list(out)
    assert keys.index('few_shot_acc') < keys.index('auc_macro')


def test_shot_groups_custom_thresholds_and_empty_groups():
    scores, target = shot_case()
    out = evaluate(
        ImbalancedClsMetric(
            cls_num_list=[1000, 100, 50, 20, 5], shot_thresholds=(60, 10)),
        scores, target)
    assert out['many_shot_acc'] == pytest.approx(75.0)   # classes 0, 1
    assert out['medium_shot_acc'] == pytest.approx(12.5)  # 2, 3
    assert out['few_shot_acc'] == pytest.approx(75.0)     # 4
    out = evaluate(ImbalancedClsMetric(cls_num_list=[500] * 5), scores, target)
    assert out['many_shot_acc'] == pytest.approx(50.0)
    assert 'medium_shot_acc' not in out and 'few_shot_acc' not in out
    out = evaluate(ImbalancedClsMetric(), scores, target)
    assert not any(k.endswith('shot_acc') for k in out)


# --------------------------------------------------------------------------
# logit adjustment
# --------------------------------------------------------------------------
def test_logit_adjustment_flips_prediction():
    # p = (.6, .4), prior (.9, .1): log(.6/.9) < log(.4/.1) -> class 1
    scores = np.array([[0.6, 0.4], [0.2, 0.8], [0.97, 0.03]])
    target = np.array([1, 1, 0])
    plain = evaluate(ImbalancedClsMetric(cls_num_list=[900, 100]), scores,
                     target)
    adjusted = evaluate(
        ImbalancedClsMetric(cls_num_list=[900, 100], logit_adjust_tau=1.0),
        scores, target)
    assert plain['confusion_matrix'] == [[1, 0], [1, 1]]
    assert adjusted['confusion_matrix'] == [[1, 0], [0, 2]]
    assert plain['accuracy'] == pytest.approx(200 / 3)
    assert adjusted['accuracy'] == pytest.approx(100.0)
    # ECE on the adjusted probabilities: sample 1 -> 6/7, sample 2 ->
    # .8*9/(.8*9+.2) = 36/37, sample 3 -> .97/(.97+.27) = 97/124 (all right)
    conf = np.array([6 / 7, 36 / 37, 97 / 124])
    assert adjusted['ece'] == pytest.approx(100 * np.mean(1 - conf))
    # tau = 0 changes nothing
    zero = evaluate(
        ImbalancedClsMetric(cls_num_list=[900, 100], logit_adjust_tau=0.0),
        scores, target)
    assert zero == plain


def test_logit_adjustment_errors():
    with pytest.raises(ValueError, match='needs the training class counts'):
        ImbalancedClsMetric(logit_adjust_tau=1.0)
    with pytest.raises(ValueError, match='>= 0'):
        ImbalancedClsMetric(cls_num_list=[1, 2], logit_adjust_tau=-1.0)
    metric = ImbalancedClsMetric(cls_num_list=[5, 0], logit_adjust_tau=1.0)
    with pytest.raises(ValueError, match='training count > 0'):
        evaluate(metric, np.array([[0.6, 0.4]]), np.array([0]))
    metric = ImbalancedClsMetric(cls_num_list=[5, 5], logit_adjust_tau=1.0)
    metric.process(None, [dict(pred_label=torch.tensor([0]),
                               gt_label=torch.tensor([0]))])
    with pytest.raises(ValueError, match='needs `pred_score`'):
        metric.compute_metrics(metric.results)


# --------------------------------------------------------------------------
# 'auto' class counts protocol
# --------------------------------------------------------------------------
def test_auto_protocol():
    scores, target = shot_case()
    metric = ImbalancedClsMetric(num_classes=5, cls_num_list='auto')
    assert metric.auto_class_counts is True
    assert metric.cls_num_list is None
    with pytest.raises(RuntimeError, match='SetClassCountsHook') as err:
        evaluate(metric, scores, target)
    assert 'custom_hooks' in str(err.value)
    assert 'cls_num_list=[...]' in str(err.value)
    # process fails at the first batch (on every rank, no hang in dist)
    with pytest.raises(RuntimeError, match='SetClassCountsHook'):
        metric.process(None, samples_from(scores[:2], target[:2]))
    assert metric.results == []
    # compute_metrics on gathered results also refuses
    with pytest.raises(RuntimeError, match='never set'):
        metric.compute_metrics(samples_from(scores, target))

    metric.set_class_counts(torch.tensor([1000, 100, 50, 20, 5]))
    assert metric.cls_num_list == [1000, 100, 50, 20, 5]
    assert metric.auto_class_counts is True
    out = evaluate(metric, scores, target)
    assert out['few_shot_acc'] == pytest.approx(75.0)

    assert ImbalancedClsMetric().auto_class_counts is False
    assert ImbalancedClsMetric(cls_num_list=[3, 4]).auto_class_counts is False


def test_auto_with_logit_adjustment_is_allowed_then_filled():
    metric = ImbalancedClsMetric(cls_num_list='auto', logit_adjust_tau=1.0)
    metric.set_class_counts(np.array([900, 100]))
    out = evaluate(metric, np.array([[0.6, 0.4], [0.95, 0.05]]),
                   np.array([1, 0]))
    assert out['confusion_matrix'] == [[1, 0], [0, 1]]


@pytest.mark.parametrize('counts, match', [
    ([1, 2, 3], 'Got 3 class counts but num_classes=5'),
    ([1, 2, -3, 4, 5], 'non-negative'),
    ([1, 2, 3.5, 4, 5], 'integers'),
    ([[1, 2, 3, 4, 5]], '1-D'),
    ([], '1-D'),
    (['a', 'b', 'c', 'd', 'e'], 'integers'),
])
def test_set_class_counts_validation(counts, match):
    metric = ImbalancedClsMetric(num_classes=5, cls_num_list='auto')
    with pytest.raises(ValueError, match=match):
        metric.set_class_counts(counts)
    assert metric.cls_num_list is None


def test_set_class_counts_accepts_integral_floats():
    metric = ImbalancedClsMetric(cls_num_list='auto')
    metric.set_class_counts([3.0, 4.0])
    assert metric.cls_num_list == [3, 4]
    assert all(type(v) is int for v in metric.cls_num_list)


def test_bad_cls_num_list_string():
    with pytest.raises(ValueError, match="'auto'"):
        ImbalancedClsMetric(cls_num_list='Auto ')


# --------------------------------------------------------------------------
# input validation and pred_label-only samples
# --------------------------------------------------------------------------
def test_errors_on_invalid_inputs():
    scores = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r'`gt_label` out of range \[0, 3\)'
                       r': found \[3\]'):
        evaluate(ImbalancedClsMetric(), scores, np.array([0, 3]))
    with pytest.raises(ValueError, match=r'out of range.*\[-1\]'):
        evaluate(ImbalancedClsMetric(), scores, np.array([0, -1]))
    with pytest.raises(ValueError, match='`pred_score` has 3 columns but '
                       'num_classes=4'):
        evaluate(ImbalancedClsMetric(num_classes=4), scores, np.array([0, 1]))
    with pytest.raises(ValueError, match='`pred_score` has 3 columns but '
                       '`cls_num_list` has 2 entries'):
        evaluate(ImbalancedClsMetric(cls_num_list=[1, 2]), scores,
                 np.array([0, 1]))
    with pytest.raises(ValueError, match='Got 2 class counts but '
                       'num_classes=3'):
        ImbalancedClsMetric(num_classes=3, cls_num_list=[1, 2])
    metric = ImbalancedClsMetric()
    metric.process(None, [
        dict(pred_score=torch.rand(3), gt_label=torch.tensor([0])),
        dict(pred_score=torch.rand(4), gt_label=torch.tensor([0]))
    ])
    with pytest.raises(ValueError, match='different lengths'):
        metric.compute_metrics(metric.results)
    metric = ImbalancedClsMetric()
    metric.process(None, [
        dict(pred_score=torch.rand(3), gt_label=torch.tensor([0, 2]))
    ])
    with pytest.raises(ValueError, match='single-label'):
        metric.compute_metrics(metric.results)
    with pytest.raises(KeyError, match='gt_label'):
        ImbalancedClsMetric().process(None, [dict(pred_score=torch.rand(3))])
    with pytest.raises(KeyError, match='pred_score` or `pred_label'):
        ImbalancedClsMetric().process(None, [dict(gt_label=torch.tensor(1))])
    with pytest.raises(ValueError, match='no results'):
        ImbalancedClsMetric().compute_metrics([])


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_classes=1), 'num_classes'),
    (dict(num_classes=2.5), 'num_classes'),
    (dict(ece_bins=0), 'ece_bins'),
    (dict(shot_thresholds=(20, 100)), 'many >= few'),
    (dict(shot_thresholds=(100, )), 'many >= few'),
])
def test_errors_on_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImbalancedClsMetric(**kwargs)


def test_pred_label_only():
    target = [0, 1, 2, 2, 1]
    pred = [0, 1, 1, 2, 1]
    samples = [
        DataSample().set_gt_label(t).set_pred_label(p)
        for t, p in zip(target, pred)
    ]
    metric = ImbalancedClsMetric(num_classes=3)
    metric.process(None, samples)
    with pytest.warns(UserWarning, match='`auc_macro` and `ece` are omitted'):
        out = metric.compute_metrics(metric.results)
    assert 'auc_macro' not in out and 'ece' not in out
    assert out['accuracy'] == pytest.approx(80.0)
    assert out['confusion_matrix'] == skm.confusion_matrix(target,
                                                           pred).tolist()
    assert out['macro_f1'] == pytest.approx(
        100 * skm.f1_score(target, pred, average='macro'))

    # without num_classes the labels alone cannot tell C
    metric = ImbalancedClsMetric()
    metric.process(None, samples)
    with pytest.raises(ValueError, match='pass\n?.*`num_classes`'):
        metric.compute_metrics(metric.results)
    # ... unless the samples carry it in their metainfo
    metric = ImbalancedClsMetric()
    metric.process(None, [dict(s.to_dict(), num_classes=3) for s in samples])
    with pytest.warns(UserWarning):
        assert metric.compute_metrics(metric.results)['accuracy'] == \
            pytest.approx(80.0)
    # a predicted label out of range
    metric = ImbalancedClsMetric(num_classes=2)
    metric.process(None, samples)
    with pytest.raises(ValueError, match=r'`gt_label` out of range \[0, 2\)'):
        metric.compute_metrics(metric.results)


def test_mixed_score_and_label_samples_use_labels():
    samples = [
        dict(pred_score=torch.tensor([0.1, 0.9]), gt_label=torch.tensor([1])),
        dict(pred_label=torch.tensor([0]), gt_label=torch.tensor([1])),
    ]
    metric = ImbalancedClsMetric()
    metric.process(None, samples)
    with pytest.warns(UserWarning, match='omitted'):
        out = metric.compute_metrics(metric.results)
    assert out['confusion_matrix'] == [[0, 0], [1, 1]]


def test_auc_warning_names_classes_with_dataset_meta():
    scores = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    target = np.array([0, 1, 0])
    metric = ImbalancedClsMetric()
    metric.dataset_meta = dict(classes=('MEL', 'NV', 'DF'))
    with pytest.warns(UserWarning, match=r'class\(es\) 2 \(DF\)'):
        out = evaluate(metric, scores, target)
    assert out['auc_macro'] == pytest.approx(100.0)
    # no class has both positives and negatives: auc_macro omitted
    metric = ImbalancedClsMetric()
    with pytest.warns(UserWarning, match=r'0, 1, 2'):
        out = evaluate(metric, scores, np.array([0, 0, 0]))
    assert 'auc_macro' not in out and 'ece' in out


# --------------------------------------------------------------------------
# registry / Evaluator with real DataSample objects
# --------------------------------------------------------------------------
def test_build_from_registry_and_evaluator():
    metric = METRICS.build(
        dict(type='ImbalancedClsMetric', num_classes=3,
             cls_num_list=[300, 50, 5]))
    assert isinstance(metric, ImbalancedClsMetric)
    assert metric.prefix == 'imbalanced'

    rng = np.random.default_rng(0)
    target = np.arange(60) % 3
    logits = rng.normal(size=(60, 3))
    logits[np.arange(60), target] += 1.0
    scores = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), 1)
    samples = [
        DataSample().set_gt_label(int(t)).set_pred_score(s).set_pred_label(
            int(s.argmax())) for t, s in zip(target, scores)
    ]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        evaluator = Evaluator([
            dict(type='ImbalancedClsMetric', num_classes=3,
                 cls_num_list=[300, 50, 5]),
            dict(type='SingleLabelMetric'),  # no key collision
        ])
    for i in range(0, 60, 16):  # batches, like the ValLoop
        evaluator.process(samples[i:i + 16])
    out = evaluator.evaluate(60)

    expected = [f'imbalanced/{k}' for k in SCALAR_KEYS] + [
        'imbalanced/many_shot_acc', 'imbalanced/medium_shot_acc',
        'imbalanced/few_shot_acc', 'imbalanced/auc_macro', 'imbalanced/ece'
    ] + [f'imbalanced/{k}' for k in LIST_KEYS]
    assert list(out)[:len(expected)] == expected
    assert list(out)[0] == 'imbalanced/accuracy'  # save_best='auto'
    pred = scores.numpy().argmax(1)
    assert out['imbalanced/macro_f1'] == pytest.approx(
        100 * skm.f1_score(target, pred, average='macro'))
    # same numbers as mmpretrain's macro metric when every class occurs
    assert out['imbalanced/macro_precision'] == pytest.approx(
        out['single-label/precision'], abs=1e-4)
    assert out['imbalanced/macro_recall'] == pytest.approx(
        out['single-label/recall'], abs=1e-4)
    assert out['imbalanced/many_shot_acc'] == pytest.approx(
        out['imbalanced/recall_classwise'][0])
    assert out['imbalanced/few_shot_acc'] == pytest.approx(
        out['imbalanced/recall_classwise'][2])
    # results are small: one score vector and one label per sample
    assert evaluator.metrics[0].results == []  # cleared after evaluate


def test_custom_prefix():
    metric = ImbalancedClsMetric(prefix='val_skin')
    metric.process(None, samples_from(np.array([[0.3, 0.7], [0.6, 0.4]]),
                                      [1, 0]))
    out = metric.evaluate(2)
    assert list(out)[0] == 'val_skin/accuracy'
    assert out['val_skin/auc_macro'] == 100.0


# --------------------------------------------------------------------------
# distributed evaluation
# --------------------------------------------------------------------------
def test_simulated_two_ranks_equal_one_rank():
    scores, target = random_case(11, 5, n=101)
    kwargs = dict(num_classes=5, cls_num_list=[400, 90, 60, 10, 3])
    single = ImbalancedClsMetric(**kwargs)
    rank0, rank1 = ImbalancedClsMetric(**kwargs), ImbalancedClsMetric(**kwargs)
    samples = samples_from(scores, target)
    for i in range(0, 101, 8):  # a DistributedSampler alternates samples
        single.process(None, samples[i:i + 8])
        rank0.process(None, samples[i:i + 8][0::2])
        rank1.process(None, samples[i:i + 8][1::2])
    for result in rank0.results + rank1.results:
        assert set(result) == {'pred_score', 'gt_label'}
        assert result['pred_score'].shape == (5, )
    with pytest.warns(UserWarning):
        expected = single.compute_metrics(single.results)
    with pytest.warns(UserWarning):
        gathered = rank0.compute_metrics(rank0.results + rank1.results)
    assert gathered == expected
    # mmengine's collect_results interleaves ranks: order does not matter
    interleaved = [r for pair in zip(rank0.results, rank1.results)
                   for r in pair] + rank0.results[len(rank1.results):]
    with pytest.warns(UserWarning):
        assert rank1.compute_metrics(interleaved) == expected


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # two gloo processes
def test_real_gloo_two_processes(tmp_path):
    """Two real processes (gloo, CPU) through mmengine's collect_results."""
    scores, target = random_case(5, 5, n=41)  # odd: rank 1 padded to 21
    counts = np.array([400, 90, 60, 10, 3])
    np.savez(tmp_path / 'data.npz', scores=scores, target=target,
             counts=counts)
    port = str(_free_port())
    worker = os.path.join(os.path.dirname(__file__), 'dist_eval_worker.py')
    start = time.time()
    procs = [
        subprocess.Popen([
            sys.executable, worker, str(rank), '2', port,
            str(tmp_path / 'data.npz'), str(tmp_path / f'out{rank}.json')
        ], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in range(2)
    ]
    for proc in procs:
        log, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, log[-3000:]
    elapsed = time.time() - start

    metric = ImbalancedClsMetric(num_classes=5, cls_num_list=counts.tolist())
    metric.process(None, samples_from(scores, target))
    with pytest.warns(UserWarning):
        expected = metric.evaluate(len(target))
    assert 'imbalanced/few_shot_acc' in expected
    for rank in range(2):  # broadcast to every rank
        with open(tmp_path / f'out{rank}.json') as f:
            got = json.load(f)
        assert list(got) == list(expected)
        for key, value in expected.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, abs=1e-12), key
            else:
                assert got[key] == value, key
    assert elapsed < 60, f'gloo test took {elapsed:.1f}s'
