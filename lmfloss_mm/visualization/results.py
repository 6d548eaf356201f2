"""Read a finished grid of runs and aggregate it for the result figures
(used by ``tools/plot_results.py``).

Layout read: ``<work_root>/<config-stem>/seed-<s>/`` with

* ``metrics.json``: ``{"config", "config_stem", "seed", "dataset",
  "backbone", "loss", "classes": [...], "metrics": {"imbalanced/...": ...}}``
  (``f1_classwise`` in percent, ``confusion_matrix`` with rows = ground
  truth);
* ``predictions.pkl``: MMPretrain's ``tools/test.py --out`` dump, a list of
  one dict (or ``DataSample``) per sample with ``pred_score`` (C
  probabilities) and ``gt_label``, as tensors, arrays, lists or ints.

Nothing is recomputed from images or checkpoints.
"""
import json
import pickle
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from lmfloss_mm.evaluation.functional import expected_calibration_error

METRICS_FILE = 'metrics.json'
PREDICTIONS_FILE = 'predictions.pkl'
#: Loss families in legend order; variants (``ldam-drw``) follow their
#: family, other losses come last, sorted.
LOSS_ORDER = ('ce', 'focal', 'ldam', 'lmf')
#: ``<backbone>_<pretrain>_<g>xb<b>-<loss>-<N>e_<dataset>``, the naming
#: convention of the grid's configs (the loss may contain ``-``).
STEM_PATTERN = re.compile(
    r'^(?P<backbone>[^_]+)_[^_]+_\d+xb\d+-(?P<loss>.+)-\d+e_'
    r'(?P<dataset>[^_]+)$')


@dataclass
class Run:
    """One ``<config-stem>/seed-<s>`` directory of the grid."""
    config_stem: str
    seed: str
    path: Path
    metrics: Optional[dict] = None
    dataset: str = ''
    backbone: str = ''
    loss: str = ''
    classes: List[str] = field(default_factory=list)

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS_FILE

    @property
    def has_predictions(self) -> bool:
        return self.predictions_path.is_file()

    @property
    def name(self) -> str:
        return f'{self.config_stem}/seed-{self.seed}'


def _seed_key(seed: str):
    return (0, int(seed), '') if seed.lstrip('-').isdigit() else (1, 0, seed)


def parse_config_stem(stem: str) -> Dict[str, str]:
    """``backbone``, ``loss`` and ``dataset`` from a grid config name, e.g.
    ``resnet50_in1k-pre_1xb32-lmf-100e_ham10000``; ``{}`` if it does not
    match."""
    match = STEM_PATTERN.match(stem)
    return match.groupdict() if match else {}


def metric_value(metrics: dict, name: str, default=None):
    """``metrics['imbalanced/<name>']``, else any ``'<prefix>/<name>'`` or
    ``'<name>'`` key."""
    if f'imbalanced/{name}' in metrics:
        return metrics[f'imbalanced/{name}']
    for key, value in metrics.items():
        if key == name or key.endswith('/' + name):
            return value
    return default


def load_run(path: Path, log=print) -> Optional[Run]:
    """A :class:`Run` from ``<config-stem>/seed-<s>``, or None (with a
    message) when ``metrics.json`` is missing or unreadable."""
    path = Path(path)
    stem, seed = path.parent.name, path.name[len('seed-'):]
    metrics_file = path / METRICS_FILE
    if not metrics_file.is_file():
        log(f'skip {stem}/{path.name}: no {METRICS_FILE} (run not finished?)')
        return None
    try:
        with open(metrics_file, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        log(f'skip {stem}/{path.name}: cannot read {METRICS_FILE}: {error}')
        return None
    if not isinstance(data, dict) or not isinstance(data.get('metrics'),
                                                    dict):
        log(f'skip {stem}/{path.name}: {METRICS_FILE} has no "metrics" '
            'dictionary')
        return None
    parsed = parse_config_stem(data.get('config_stem') or stem)
    run = Run(
        config_stem=str(data.get('config_stem') or stem),
        seed=str(data.get('seed', seed)),
        path=path,
        metrics=data['metrics'],
        dataset=str(data.get('dataset') or parsed.get('dataset', '?')),
        backbone=str(data.get('backbone') or parsed.get('backbone', '?')),
        loss=str(data.get('loss') or parsed.get('loss', stem)),
        classes=[str(c) for c in data.get('classes') or []])
    return run


def find_runs(work_root, log=print) -> List[Run]:
    """Every ``<work_root>/<config-stem>/seed-<s>/`` with a readable
    ``metrics.json``, sorted by config then seed; the others are reported
    through ``log`` and skipped."""
    work_root = Path(work_root)
    if not work_root.is_dir():
        raise FileNotFoundError(f'{work_root} is not a directory')
    runs = []
    seed_dirs = sorted(
        (p for p in work_root.glob('*/seed-*') if p.is_dir()),
        key=lambda p: (p.parent.name, _seed_key(p.name[len('seed-'):])))
    if not seed_dirs:
        log(f'no <config-stem>/seed-<s>/ directory under {work_root}')
    for path in seed_dirs:
        run = load_run(path, log)
        if run is not None:
            runs.append(run)
    return runs


def ordered_losses(losses: Sequence[str]) -> List[str]:
    """Unique losses by :data:`LOSS_ORDER` family (``ldam``, then
    ``ldam-cos``, ``ldam-drw``), then the other losses, sorted."""

    def key(name):
        for rank, family in enumerate(LOSS_ORDER):
            if name == family or name.startswith(family + '-'):
                return (rank, name != family, name)
        return (len(LOSS_ORDER), True, name)

    return sorted(set(losses), key=key)


def group_runs(runs: Sequence[Run], key) -> 'OrderedDict[object, List[Run]]':
    """Runs grouped by ``key(run)``, keys sorted."""
    groups: Dict[object, List[Run]] = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return OrderedDict(sorted(groups.items(), key=lambda kv: kv[0]))


# ------------------------------------------------------------ per-class F1
def f1_from_confusion(matrix: np.ndarray) -> np.ndarray:
    """Per-class F1 in percent from a confusion matrix (rows = ground
    truth), 0 where undefined (scikit-learn's ``zero_division=0``)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    denominator = matrix.sum(0) + matrix.sum(1)
    with np.errstate(invalid='ignore', divide='ignore'):
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
    return 100 * f1


def run_f1_classwise(run: Run) -> Optional[np.ndarray]:
    """``f1_classwise`` of a run (percent), from its confusion matrix when
    the list is absent; None when neither is there."""
    f1 = metric_value(run.metrics, 'f1_classwise')
    if f1 is not None:
        return np.asarray(f1, dtype=np.float64).reshape(-1)
    matrix = metric_value(run.metrics, 'confusion_matrix')
    if matrix is not None:
        return f1_from_confusion(np.asarray(matrix))
    return None


def per_class_f1_table(runs: Sequence[Run], log=print
                       ) -> Tuple[List[str], 'OrderedDict[str, tuple]']:
    """Mean and std over seeds of the per-class F1 of each loss.

    Args:
        runs (Sequence[Run]): Runs of one dataset x backbone.
        log (callable): Receives skip messages.

    Returns:
        tuple: ``(classes, table)`` where ``table[loss] = (mean (C,),
        std (C,), n_seeds)`` in percent, losses in :func:`ordered_losses`
        order. ``std`` is the sample standard deviation (``ddof=1``), NaN
        with a single seed.
    """
    classes: List[str] = []
    values: Dict[str, List[np.ndarray]] = {}
    for run in runs:
        f1 = run_f1_classwise(run)
        if f1 is None:
            log(f'skip {run.name} in the F1 figure: no f1_classwise and no '
                'confusion_matrix in metrics.json')
            continue
        names = run.classes or [str(i) for i in range(f1.size)]
        if not classes:
            classes = names
        if len(names) != f1.size or names != classes:
            log(f'skip {run.name} in the F1 figure: classes {names} differ '
                f'from {classes} or from its {f1.size} F1 values')
            continue
        values.setdefault(run.loss, []).append(f1)
    table = OrderedDict()
    for loss in ordered_losses(values):
        stack = np.stack(values[loss])
        std = stack.std(axis=0, ddof=1) if len(stack) > 1 else np.full(
            stack.shape[1], np.nan)
        table[loss] = (stack.mean(axis=0), std, len(stack))
    return classes, table


# -------------------------------------------------------- confusion matrix
def summed_confusion(runs: Sequence[Run], log=print
                     ) -> Tuple[Optional[np.ndarray], int]:
    """Sum over seeds of the confusion matrices of one config.

    Runs without ``confusion_matrix`` use their ``predictions.pkl`` when
    present; runs with neither, or with another shape, are skipped.

    Returns:
        tuple: ``(matrix (C, C) int64 or None, number of runs summed)``.
    """
    total, used = None, 0
    for run in runs:
        matrix = metric_value(run.metrics, 'confusion_matrix')
        if matrix is not None:
            matrix = np.asarray(matrix, dtype=np.int64)
        elif run.has_predictions:
            scores, labels = load_predictions(run.predictions_path)
            matrix = confusion_from_predictions(scores, labels)
        else:
            log(f'skip {run.name} in the confusion matrix: no '
                f'confusion_matrix in metrics.json and no {PREDICTIONS_FILE}')
            continue
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or (
                total is not None and matrix.shape != total.shape):
            log(f'skip {run.name} in the confusion matrix: shape '
                f'{matrix.shape} differs from the other seeds')
            continue
        total = matrix if total is None else total + matrix
        used += 1
    return total, used


def row_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows divided by their sums (all-zero rows stay zero)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix),
                     where=sums > 0)


def confusion_from_predictions(scores: np.ndarray,
                               labels: np.ndarray) -> np.ndarray:
    """``(C, C)`` counts, rows = ground truth, columns = argmax score."""
    num_classes = scores.shape[1]
    pred = scores.argmax(axis=1)
    return np.bincount(labels * num_classes + pred,
                       minlength=num_classes**2).reshape(
                           num_classes, num_classes)


# ------------------------------------------------------------- predictions
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
    """
    import torch  # noqa: F401  (unpickling tensors needs torch imported)
    with open(path, 'rb') as f:
        data = pickle.load(f)
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
        shifted = scores - scores.max(axis=1, keepdims=True)
        scores = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return scores, labels


def pooled_predictions(runs: Sequence[Run], log=print
                       ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray],
                                  int]:
    """Scores and labels of every seed of a config, concatenated.

    Returns:
        tuple: ``(scores or None, labels or None, number of runs pooled)``.
    """
    scores, labels = [], []
    for run in runs:
        if not run.has_predictions:
            log(f'{run.name}: no {PREDICTIONS_FILE}, left out of the '
                'reliability diagram')
            continue
        try:
            run_scores, run_labels = load_predictions(run.predictions_path)
        except (OSError, ValueError, TypeError, pickle.UnpicklingError,
                EOFError) as error:
            log(f'{run.name}: cannot read {PREDICTIONS_FILE} ({error}), left '
                'out of the reliability diagram')
            continue
        if scores and run_scores.shape[1] != scores[0].shape[1]:
            log(f'{run.name}: {run_scores.shape[1]} classes in '
                f'{PREDICTIONS_FILE}, the other seeds have '
                f'{scores[0].shape[1]}; left out')
            continue
        scores.append(run_scores)
        labels.append(run_labels)
    if not scores:
        return None, None, 0
    return np.concatenate(scores), np.concatenate(labels), len(scores)


# ------------------------------------------------------------- calibration
def top1_confidence(scores: np.ndarray,
                    labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Top-1 confidence and whether the top-1 prediction is right."""
    return scores.max(axis=1), scores.argmax(axis=1) == labels


def reliability_bins(confidence: np.ndarray, correct: np.ndarray,
                     n_bins: int = 15) -> Dict[str, np.ndarray]:
    """Per-bin statistics with the bins of
    :func:`lmfloss_mm.evaluation.functional.expected_calibration_error`
    (``(b / n, (b + 1) / n]``, the first bin also holds 0).

    Returns:
        dict: ``edges`` (n_bins + 1,), ``count``, ``accuracy`` and
        ``confidence`` (mean per bin, 0 for empty bins), each (n_bins,).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side='left') - 1, 0,
                    n_bins - 1)
    count = np.bincount(index, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        accuracy = np.bincount(index, correct, n_bins) / count
        mean_conf = np.bincount(index, confidence, n_bins) / count
    return dict(edges=edges, count=count.astype(np.int64),
                accuracy=np.nan_to_num(accuracy),
                confidence=np.nan_to_num(mean_conf))


def calibration_error(confidence: np.ndarray, correct: np.ndarray,
                      n_bins: int = 15) -> float:
    """ECE as a fraction, the same as ``ImbalancedClsMetric``'s ``ece``
    divided by 100."""
    return expected_calibration_error(confidence, correct, n_bins)


def out_name(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r'[^A-Za-z0-9._+-]+', '_', text).strip('_') or 'unnamed'

