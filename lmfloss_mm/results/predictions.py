"""What the result figures show, computed from run records: per-class F1
over runs, summed confusion matrices and pooled test predictions.

Every number comes from the metric's own functions
(:mod:`lmfloss_mm.evaluation.functional`), so the figures agree with
``ImbalancedClsMetric``.
"""
import pickle
import warnings
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from lmfloss_mm.evaluation.functional import (confusion_matrix,
                                              precision_recall_f1_support,
                                              softmax)
from .labels import LOSS_ORDER, ordered
from .record import DEFAULT_PREFIX, RunRecord
from .stats import mean_std

__all__ = ['load_predictions', 'run_f1_classwise', 'per_class_f1_table',
           'summed_confusion', 'pooled_predictions', 'group_runs']

Log = Callable[[str], None]


def group_runs(runs: Sequence[RunRecord], key
               ) -> 'OrderedDict[object, List[RunRecord]]':
    """Runs grouped by ``key(run)``, keys sorted."""
    groups: Dict[object, List[RunRecord]] = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return OrderedDict(sorted(groups.items(), key=lambda kv: kv[0]))


def run_f1_classwise(run: RunRecord, prefix: str = DEFAULT_PREFIX
                     ) -> Optional[np.ndarray]:
    """``f1_classwise`` of a run (percent), from its confusion matrix when
    the list is absent; None when neither is there."""
    f1 = run.metric('f1_classwise', prefix)
    if f1 is not None:
        return np.asarray(f1, dtype=np.float64).reshape(-1)
    matrix = run.metric('confusion_matrix', prefix)
    if matrix is not None:
        return 100 * precision_recall_f1_support(np.asarray(matrix))[2]
    return None


def per_class_f1_table(runs: Sequence[RunRecord], log: Log = print
                       ) -> Tuple[List[str], 'OrderedDict[str, tuple]']:
    """Mean and std over runs of the per-class F1 of each loss.

    Args:
        runs (Sequence[RunRecord]): Runs of one dataset x backbone.
        log (callable): Receives skip messages.

    Returns:
        tuple: ``(classes, table)`` where ``table[loss] = (mean (C,),
        std (C,), n_runs)`` in percent, losses in report order; ``std`` is
        the sample standard deviation, NaN for a single run.
    """
    classes: List[str] = []
    values: Dict[str, List[np.ndarray]] = {}
    for run in runs:
        f1 = run_f1_classwise(run)
        if f1 is None:
            log(f'skip {run.name} in the F1 figure: no f1_classwise and no '
                'confusion_matrix in its metrics')
            continue
        names = run.classes or [str(i) for i in range(f1.size)]
        classes = classes or names
        if len(names) != f1.size or names != classes:
            log(f'skip {run.name} in the F1 figure: classes {names} differ '
                f'from {classes} or from its {f1.size} F1 values')
            continue
        values.setdefault(run.loss, []).append(f1)
    table = OrderedDict()
    for loss in ordered(values, LOSS_ORDER):
        stats = [mean_std(column) for column in np.stack(values[loss]).T]
        table[loss] = (np.array([s.mean for s in stats]),
                       np.array([s.std for s in stats]), len(values[loss]))
    return classes, table


def load_predictions(path) -> Tuple[np.ndarray, np.ndarray]:
    """Scores and labels of a ``tools/test.py --out`` dump.

    Args:
        path (str | Path): The ``.pkl`` file: a list of per-sample dicts
            (or ``DataSample``) with ``pred_score`` and ``gt_label``.

    Returns:
        tuple: ``(scores (N, C) float64, labels (N,) int64)``.  Scores that
        are not probabilities (negative, or rows not summing to 1) are
        assumed to be logits and go through a softmax, with a warning.

    Raises:
        ValueError: for an empty or malformed dump.
        lmfloss_mm.runner.UnsafePickleError: for a file that refers to
            anything but containers, numbers, strings, arrays and tensors.
    """
    from lmfloss_mm.runner import load_pickle_file
    data = load_pickle_file(path)  # restricted: never runs code from it
    if isinstance(data, dict) and 'predictions' in data:
        data = data['predictions']
    if not isinstance(data, (list, tuple)) or not data:
        raise ValueError(f'{path}: expected a non-empty list of per-sample '
                         f'results, got {type(data).__name__}')
    scores, labels = [], []
    for index, sample in enumerate(data):
        sample = _sample_dict(sample)
        if 'pred_score' not in sample or 'gt_label' not in sample:
            raise ValueError(
                f'{path}: sample {index} has no pred_score or gt_label '
                f'(keys: {sorted(sample)}); run tools/test.py with --out on '
                'a single-label classifier.')
        score = _to_numpy(sample['pred_score']).astype(np.float64).reshape(-1)
        label = _to_numpy(sample['gt_label']).reshape(-1)
        if label.size != 1:
            raise ValueError(f'{path}: sample {index} has gt_label '
                             f'{label.tolist()}; only single-label results '
                             'are supported.')
        scores.append(score)
        labels.append(int(label[0]))
    widths = {s.size for s in scores}
    if len(widths) != 1:
        raise ValueError(f'{path}: pred_score sizes differ: {sorted(widths)}')
    scores = np.stack(scores)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(f'{path}: gt_label outside 0..{scores.shape[1] - 1}')
    if scores.min() < 0 or not np.allclose(scores.sum(axis=1), 1, atol=1e-3):
        warnings.warn(f'{path}: pred_score rows are not probabilities; '
                      'applying a softmax (were logits dumped?)')
        scores = softmax(scores)
    return scores, labels


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):  # torch.Tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _sample_dict(sample) -> dict:
    if isinstance(sample, dict):
        return sample
    if hasattr(sample, 'to_dict'):  # mmengine BaseDataElement
        return sample.to_dict()
    raise TypeError(f'expected a dict per sample, got {type(sample)}')


def _try_predictions(run: RunRecord, log: Log, what: str):
    """``(scores, labels)`` of a run's predictions, None (logged) when it
    has none or they cannot be read."""
    if not run.predictions:
        log(f'{run.name}: no predictions.pkl, left out of the {what}')
        return None
    from lmfloss_mm.runner import UnsafePickleError
    try:
        return load_predictions(run.predictions)
    except UnsafePickleError:
        raise  # a refused file is reported, not taken for a missing one
    except (OSError, ValueError, TypeError, pickle.UnpicklingError,
            EOFError) as error:
        log(f'{run.name}: cannot read {run.predictions} ({error}), left out '
            f'of the {what}')
        return None


def summed_confusion(runs: Sequence[RunRecord], log: Log = print
                     ) -> Tuple[Optional[np.ndarray], int]:
    """Sum over the runs of one config of their confusion matrices.

    Runs without ``confusion_matrix`` use their predictions when present;
    runs with neither, or with another shape, are skipped.

    Returns:
        tuple: ``(matrix (C, C) int64 or None, number of runs summed)``.
    """
    total, used = None, 0
    for run in runs:
        matrix = run.metric('confusion_matrix')
        if matrix is not None:
            matrix = np.asarray(matrix, dtype=np.int64)
        else:
            loaded = _try_predictions(run, log, 'confusion matrix')
            if loaded is None:
                continue
            scores, labels = loaded
            matrix = confusion_matrix(scores.argmax(1), labels,
                                      scores.shape[1])
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or (
                total is not None and matrix.shape != total.shape):
            log(f'skip {run.name} in the confusion matrix: shape '
                f'{matrix.shape} differs from the other runs')
            continue
        total = matrix if total is None else total + matrix
        used += 1
    return total, used


def pooled_predictions(runs: Sequence[RunRecord], log: Log = print
                       ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray],
                                  int]:
    """Scores and labels of every run of a config, concatenated.

    Returns:
        tuple: ``(scores or None, labels or None, number of runs pooled)``.
    """
    scores, labels = [], []
    for run in runs:
        loaded = _try_predictions(run, log, 'reliability diagram')
        if loaded is None:
            continue
        if scores and loaded[0].shape[1] != scores[0].shape[1]:
            log(f'{run.name}: {loaded[0].shape[1]} classes in its '
                f'predictions, the other runs have {scores[0].shape[1]}; '
                'left out')
            continue
        scores.append(loaded[0])
        labels.append(loaded[1])
    if not scores:
        return None, None, 0
    return np.concatenate(scores), np.concatenate(labels), len(scores)
