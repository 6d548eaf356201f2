"""``ImbalancedClsMetric``: one evaluator entry for class-imbalanced tasks."""
import warnings
from numbers import Integral
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from mmpretrain.registry import METRICS
from lmfloss_mm.datasets.labels import check_class_counts
from ..functional import (SHOT_THRESHOLDS, balanced_accuracy,
                          confusion_matrix, expected_calibration_error,
                          logit_adjusted_probs, precision_recall_f1_support,
                          roc_auc_ovr, shot_group_accuracy)

AUTO_FIX_HINT = ("add dict(type='SetClassCountsHook') to `custom_hooks` in "
                 'your config, or pass the training counts explicitly with '
                 '`cls_num_list=[...]`')

#: Headline metrics of the log table: key -> label.
HEADLINE_METRICS = {
    'accuracy': 'accuracy',
    'balanced_accuracy': 'balanced accuracy',
    'macro_f1': 'macro-F1',
    'weighted_f1': 'weighted F1',
    'auc_macro': 'macro AUC',
    'ece': 'ECE',
    'many_shot_acc': 'many-shot acc.',
    'medium_shot_acc': 'medium-shot acc.',
    'few_shot_acc': 'few-shot acc.',
}


def format_metrics_table(metrics: Dict,
                         classes: Optional[Sequence[str]] = None,
                         train_counts: Optional[Sequence[int]] = None,
                         title: str = '') -> str:
    """The per-class results of :class:`ImbalancedClsMetric` as a small
    fixed-width table, then the headline metrics on one line.

    Args:
        metrics (dict): The metric's results without prefix
            (``precision_classwise``, ``recall_classwise``,
            ``f1_classwise``, ``support_classwise`` and the scalars).
        classes (Sequence[str], optional): Class names; class indices when
            None or of another length. Defaults to None.
        train_counts (Sequence[int], optional): Training images per class,
            shown as a column when given. Defaults to None.
        title (str): First line. Defaults to ``''`` (no title line).

    Returns:
        str: One row per class (precision, recall and F1 in percent with
        one decimal, support), a ``macro`` row (the macro means and the
        total support) and the headline line.
    """
    support = metrics['support_classwise']
    if classes is None or len(classes) != len(support):
        classes = [str(i) for i in range(len(support))]
    width = max(5, max(len(str(c)) for c in classes))
    columns = ['precision', 'recall', 'F1', 'support']
    if train_counts is not None:
        columns.append('train')
    lines = [title] if title else []
    lines.append(f'{"class":<{width}}' + ''.join(
        f'{c:>11}' for c in columns))
    for i, name in enumerate(classes):
        cells = [f'{metrics[k][i]:>11.1f}' for k in (
            'precision_classwise', 'recall_classwise', 'f1_classwise')]
        cells.append(f'{support[i]:>11d}')
        if train_counts is not None:
            cells.append(f'{train_counts[i]:>11d}')
        lines.append(f'{name:<{width}}' + ''.join(cells))
    macro = [f'{metrics[k]:>11.1f}' for k in (
        'macro_precision', 'macro_recall', 'macro_f1')]
    macro.append(f'{sum(support):>11d}')
    if train_counts is not None:
        macro.append(f'{sum(train_counts):>11d}')
    lines.append(f'{"macro":<{width}}' + ''.join(macro))
    lines.append(', '.join(f'{label} {metrics[key]:.2f}'
                           for key, label in HEADLINE_METRICS.items()
                           if key in metrics))
    return '\n'.join(lines)


def _as_dict(data_sample) -> dict:
    """Accept both ``DataSample`` objects and their ``to_dict()`` form."""
    if isinstance(data_sample, BaseDataElement):
        return data_sample.to_dict()
    return data_sample


def _flat_tensor(value) -> torch.Tensor:
    """Any label/score value as a flat cpu tensor."""
    return torch.as_tensor(value).detach().cpu().reshape(-1)


@METRICS.register_module()
class ImbalancedClsMetric(BaseMetric):
    r"""All the single-label metrics that matter under class imbalance.

    One evaluator entry reports, under ``<prefix>/<name>``:

    * ``accuracy`` (always the first key, so that ``save_best='auto'`` picks
      a scalar), ``balanced_accuracy`` (mean recall over the classes present
      in the ground truth, scikit-learn's ``balanced_accuracy_score``),
      ``macro_precision``, ``macro_recall``, ``macro_f1``, ``weighted_f1``:
      scikit-learn's definitions with ``labels=range(C)`` and
      ``zero_division=0`` (a class that is never predicted has precision 0;
      a class absent from the ground truth has recall 0 and still counts in
      the macro means, so ``macro_recall`` is lower than
      ``balanced_accuracy`` exactly when some class has no evaluation
      sample);
    * ``many_shot_acc``, ``medium_shot_acc``, ``few_shot_acc`` (OLTR, Liu et
      al., CVPR 2019): mean recall of the classes whose **training** count is
      ``> shot_thresholds[0]``, in ``[shot_thresholds[1],
      shot_thresholds[0]]``, ``< shot_thresholds[1]``; classes without
      evaluation samples are skipped; a group without classes, or every group
      when no training counts are known, is not reported;
    * ``auc_macro``: mean one-vs-rest ROC AUC of ``pred_score`` over the
      classes that have both positives and negatives in the evaluation set
      (the others are skipped with a warning naming them); rank-based with
      ties counted 1/2, identical to scikit-learn's ``roc_auc_score``;
    * ``ece``: expected calibration error of the top-1 confidence with
      ``ece_bins`` equal-width bins;
    * ``precision_classwise``, ``recall_classwise``, ``f1_classwise``
      (lists in percent), ``support_classwise`` (list of int counts) and
      ``confusion_matrix`` (C x C list of lists of int, rows = ground
      truth, columns = prediction), all in class-index order and last.

    All rates, AUC and ECE are in percent (0-100), like mmpretrain's
    ``SingleLabelMetric``.  With ``pred_score`` the prediction is its argmax;
    samples that carry only ``pred_label`` are evaluated with that label and
    ``auc_macro`` / ``ece`` are then omitted with a warning.

    **Post-hoc logit adjustment** (Menon et al., ICLR 2021): with
    ``logit_adjust_tau > 0`` every metric above (same keys) is computed on
    the adjusted prediction ``argmax_j (log pred_score_j - tau * log
    prior_j)``, ``prior_j = n_j / sum(n)`` from the training counts; AUC and
    ECE use the softmax of the adjusted log-scores.  This needs training
    counts (all > 0) and ``pred_score``.

    **Class counts protocol** (shared with the project's losses): with
    ``cls_num_list='auto'``, :attr:`auto_class_counts` is True and
    ``SetClassCountsHook`` calls :meth:`set_class_counts` with the training
    set's counts before validation/testing.  Evaluating before that raises a
    ``RuntimeError`` naming the fix.

    Args:
        num_classes (int, optional): Number of classes C.  When None it is
            taken from ``cls_num_list``, then from the width of
            ``pred_score`` (or ``num_classes`` in the data samples when only
            labels are given).  Defaults to None.
        cls_num_list (Sequence[int] | str, optional): Per-class training
            counts, ``'auto'`` (filled by ``SetClassCountsHook``), or None
            (no shot groups, no logit adjustment).  Defaults to None.
        shot_thresholds (tuple[int, int]): ``(many, few)`` training-count
            thresholds of the shot groups, ``many >= few``.
            Defaults to ``(100, 20)``.
        ece_bins (int): Number of equal-width confidence bins of the ECE.
            Defaults to 15.
        logit_adjust_tau (float): Strength of post-hoc logit adjustment;
            0 disables it.  Defaults to 0.
        log_table (bool): Log the per-class results (class names,
            precision, recall, F1, support, training counts) as a table and
            the headline metrics after each evaluation, with
            :func:`format_metrics_table`. Defaults to True.
        collect_device (str): Device name used for collecting results from
            different ranks during distributed evaluation. Must be 'cpu' or
            'gpu'. Defaults to 'cpu'.
        prefix (str, optional): The prefix added to every key to
            disambiguate homonymous metrics of different evaluators.
            Defaults to ``'imbalanced'``.

    Examples:
        >>> import torch
        >>> from mmengine.evaluator import Evaluator
        >>> from mmpretrain.structures import DataSample
        >>> import lmfloss_mm  # noqa: registers the metric
        >>> samples = [DataSample().set_gt_label(i % 3).set_pred_score(
        ...     torch.rand(3)) for i in range(30)]
        >>> evaluator = Evaluator(ImbalancedClsMetric(
        ...     cls_num_list=[500, 50, 5]))
        >>> evaluator.process(samples)
        >>> list(evaluator.evaluate(30))[:2]
        ['imbalanced/accuracy', 'imbalanced/balanced_accuracy']
    """
    default_prefix: Optional[str] = 'imbalanced'

    def __init__(self,
                 num_classes: Optional[int] = None,
                 cls_num_list: Union[Sequence[int], str, None] = None,
                 shot_thresholds: Tuple[int, int] = SHOT_THRESHOLDS,
                 ece_bins: int = 15,
                 logit_adjust_tau: float = 0.0,
                 log_table: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'imbalanced') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if num_classes is not None and (
                not isinstance(num_classes, Integral) or num_classes < 2):
            raise ValueError(
                f'`num_classes` must be an int >= 2, got {num_classes!r}.')
        self.num_classes = None if num_classes is None else int(num_classes)
        self.shot_thresholds = self._check_thresholds(shot_thresholds)
        if not isinstance(ece_bins, Integral) or ece_bins < 1:
            raise ValueError(
                f'`ece_bins` must be a positive int, got {ece_bins!r}.')
        self.ece_bins = int(ece_bins)
        if not float(logit_adjust_tau) >= 0:
            raise ValueError('`logit_adjust_tau` must be >= 0, got '
                             f'{logit_adjust_tau!r}.')
        self.logit_adjust_tau = float(logit_adjust_tau)
        self.log_table = bool(log_table)

        self.auto_class_counts = isinstance(cls_num_list, str)
        self.cls_num_list: Optional[List[int]] = None
        if self.auto_class_counts:
            if cls_num_list != 'auto':
                raise ValueError("`cls_num_list` must be a list of ints, "
                                 f"'auto' or None, got {cls_num_list!r}.")
        elif cls_num_list is not None:
            self.set_class_counts(cls_num_list)
        elif self.logit_adjust_tau > 0:
            raise ValueError(
                '`logit_adjust_tau > 0` needs the training class counts: '
                "pass `cls_num_list=[...]` or `cls_num_list='auto'` (with "
                "dict(type='SetClassCountsHook') in `custom_hooks`).")

    # ------------------------------------------------------------------ #
    # configuration helpers
    # ------------------------------------------------------------------ #
    @staticmethod
    def _check_thresholds(thresholds) -> Tuple[int, int]:
        thr = tuple(thresholds)
        if len(thr) != 2 or thr[0] < thr[1]:
            raise ValueError('`shot_thresholds` must be (many, few) with '
                             f'many >= few, got {thresholds!r}.')
        return thr

    def set_class_counts(self, counts: Sequence[int]) -> None:
        """Set the per-class training counts.

        Called by ``SetClassCountsHook`` on metrics whose
        :attr:`auto_class_counts` is True; also used for an explicit
        ``cls_num_list``.

        Args:
            counts (Sequence[int]): Non-negative integer count of every
                class, length ``num_classes`` when that is known.
        """
        self.cls_num_list = check_class_counts(
            counts, self.num_classes, owner='ImbalancedClsMetric',
            allow_empty=True)

    def _check_counts_ready(self) -> None:
        if self.auto_class_counts and self.cls_num_list is None:
            raise RuntimeError(
                "ImbalancedClsMetric was configured with cls_num_list='auto'"
                ' but the class counts were never set. To fix it, '
                f'{AUTO_FIX_HINT}.')

    # ------------------------------------------------------------------ #
    # BaseMetric interface
    # ------------------------------------------------------------------ #
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store the score vector (or label) and gt label of each sample.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict | DataSample]): Model outputs with
                ``gt_label`` and ``pred_score`` (or ``pred_label``).
        """
        # Fail on every rank at the first batch, not only on rank 0 later.
        self._check_counts_ready()
        for data_sample in data_samples:
            sample = _as_dict(data_sample)
            if 'gt_label' not in sample:
                raise KeyError('ImbalancedClsMetric needs `gt_label` in every'
                               ' data sample.')
            result = dict(gt_label=_flat_tensor(sample['gt_label']).long())
            if sample.get('pred_score') is not None:
                result['pred_score'] = _flat_tensor(sample['pred_score'])
            elif sample.get('pred_label') is not None:
                result['pred_label'] = _flat_tensor(
                    sample['pred_label']).long()
                if sample.get('num_classes') is not None:
                    result['num_classes'] = int(sample['num_classes'])
            else:
                raise KeyError('ImbalancedClsMetric needs `pred_score` or '
                               '`pred_label` in every data sample.')
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict:
        """Compute every metric from the (gathered) per-sample results.

        Args:
            results (list[dict]): Results of :meth:`process` from all ranks.

        Returns:
            dict: Metric name (without prefix) to value; see the class
            docstring for the keys.
        """
        self._check_counts_ready()
        if len(results) == 0:
            raise ValueError('ImbalancedClsMetric got no results to evaluate.')
        target = self._gather_targets(results)
        scores, pred = self._gather_predictions(results)
        num_classes, source = self._resolve_num_classes(results, scores)
        self._validate(target, scores, pred, num_classes, source)

        if self.logit_adjust_tau > 0:
            scores = self._adjust(scores)
        if scores is not None:
            pred = scores.argmax(axis=1)

        metrics = self._label_metrics(pred, target, num_classes)
        if scores is not None:
            metrics.update(self._score_metrics(scores, target))
        else:
            warnings.warn('ImbalancedClsMetric: some data samples have no '
                          '`pred_score`; `auc_macro` and `ece` are omitted.')
        if self.log_table:
            self._log_table(metrics, len(target))
        return self._order(metrics)

    # ------------------------------------------------------------------ #
    # compute_metrics steps
    # ------------------------------------------------------------------ #
    @staticmethod
    def _gather_targets(results: List[dict]) -> np.ndarray:
        labels = [r['gt_label'] for r in results]
        bad = [i for i, t in enumerate(labels) if t.numel() != 1]
        if bad:
            raise ValueError(
                'ImbalancedClsMetric is single-label: every `gt_label` must '
                f'hold exactly one class index (sample {bad[0]} has '
                f'{labels[bad[0]].tolist()}).')
        return torch.cat(labels).numpy().astype(np.int64)

    @staticmethod
    def _gather_predictions(
            results: List[dict]
    ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """Return ``(scores, None)`` if every sample has a score vector,
        else ``(None, labels)`` with score argmax for the scored ones."""
        if all('pred_score' in r for r in results):
            widths = {r['pred_score'].numel() for r in results}
            if len(widths) != 1:
                raise ValueError('`pred_score` has different lengths across '
                                 f'samples: {sorted(widths)}.')
            scores = torch.stack([r['pred_score'] for r in results])
            return scores.double().numpy(), None
        labels = []
        for r in results:
            if 'pred_score' in r:
                labels.append(int(r['pred_score'].argmax()))
            elif r['pred_label'].numel() != 1:
                raise ValueError(
                    'Every `pred_label` must hold exactly one class index, '
                    f'got {r["pred_label"].tolist()}.')
            else:
                labels.append(int(r['pred_label']))
        return None, np.asarray(labels, dtype=np.int64)

    def _resolve_num_classes(self, results: List[dict],
                             scores: Optional[np.ndarray]) -> Tuple[int, str]:
        """C from the config, the counts, the scores or the samples, and
        where it came from (for error messages)."""
        if self.num_classes is not None:
            return self.num_classes, f'num_classes={self.num_classes}'
        if self.cls_num_list is not None:
            n = len(self.cls_num_list)
            return n, f'`cls_num_list` has {n} entries'
        if scores is not None:
            return scores.shape[1], '`pred_score` width'
        widths = {r['pred_score'].numel() for r in results
                  if 'pred_score' in r}
        widths |= {r['num_classes'] for r in results if 'num_classes' in r}
        if len(widths) == 1:
            return widths.pop(), 'the data samples'
        raise ValueError(
            'Cannot tell the number of classes from `pred_label` alone: pass '
            '`num_classes` to ImbalancedClsMetric (found '
            f'{sorted(widths) or "nothing"}).')

    @staticmethod
    def _validate(target: np.ndarray, scores: Optional[np.ndarray],
                  pred: Optional[np.ndarray], num_classes: int,
                  source: str) -> None:
        if scores is not None and scores.shape[1] != num_classes:
            raise ValueError(
                f'`pred_score` has {scores.shape[1]} columns but {source}; '
                'the head, `num_classes` and `cls_num_list` must agree.')
        for name, labels in (('gt_label', target), ('pred_label', pred)):
            if labels is None:
                continue
            bad = labels[(labels < 0) | (labels >= num_classes)]
            if bad.size:
                raise ValueError(
                    f'`{name}` out of range [0, {num_classes}): found '
                    f'{sorted(set(bad.tolist()))[:10]}.')

    def _adjust(self, scores: Optional[np.ndarray]) -> np.ndarray:
        if scores is None:
            raise ValueError('`logit_adjust_tau > 0` needs `pred_score` in '
                             'every data sample; got only `pred_label`.')
        if self.cls_num_list is None:  # not reachable through __init__
            raise ValueError(f'`logit_adjust_tau > 0` needs class counts: '
                             f'{AUTO_FIX_HINT}.')
        return logit_adjusted_probs(scores, self.cls_num_list,
                                    self.logit_adjust_tau)

    def _label_metrics(self, pred: np.ndarray, target: np.ndarray,
                       num_classes: int) -> Dict:
        cm = confusion_matrix(pred, target, num_classes)
        precision, recall, f1, support = precision_recall_f1_support(cm)
        total = support.sum()
        metrics = dict(
            accuracy=100.0 * float(np.trace(cm) / total),
            balanced_accuracy=100.0 * balanced_accuracy(recall, support),
            macro_precision=100.0 * float(precision.mean()),
            macro_recall=100.0 * float(recall.mean()),
            macro_f1=100.0 * float(f1.mean()),
            weighted_f1=100.0 * float((f1 * support).sum() / total),
        )
        if self.cls_num_list is not None:
            groups = shot_group_accuracy(recall, support, self.cls_num_list,
                                         self.shot_thresholds)
            metrics.update({k: 100.0 * v for k, v in groups.items()})
        metrics.update(
            precision_classwise=(100.0 * precision).tolist(),
            recall_classwise=(100.0 * recall).tolist(),
            f1_classwise=(100.0 * f1).tolist(),
            support_classwise=support.tolist(),
            confusion_matrix=cm.tolist())
        return metrics

    def _log_table(self, metrics: Dict, num_samples: int) -> None:
        title = (f'{type(self).__name__} ({self.prefix}): {num_samples} '
                 'samples')
        if self.logit_adjust_tau > 0:
            title += (', post-hoc logit adjustment tau='
                      f'{self.logit_adjust_tau:g}')
        classes = (self.dataset_meta or {}).get('classes')
        print_log(
            format_metrics_table(metrics, classes, self.cls_num_list, title),
            logger='current')

    def _class_name(self, index: int) -> str:
        classes = (self.dataset_meta or {}).get('classes')
        if classes is not None and index < len(classes):
            return f'{index} ({classes[index]})'
        return str(index)

    def _score_metrics(self, scores: np.ndarray, target: np.ndarray) -> Dict:
        metrics = {}
        auc = roc_auc_ovr(scores, target)
        undefined = np.flatnonzero(np.isnan(auc))
        if undefined.size:
            names = ', '.join(self._class_name(int(i)) for i in undefined)
            warnings.warn(
                'ImbalancedClsMetric: ROC AUC is undefined for class(es) '
                f'{names} (no positive or no negative evaluation sample); '
                'they are excluded from `auc_macro`.')
        if undefined.size < auc.size:
            metrics['auc_macro'] = 100.0 * float(np.nanmean(auc))
        correct = scores.argmax(axis=1) == target
        metrics['ece'] = 100.0 * expected_calibration_error(
            scores.max(axis=1), correct, self.ece_bins)
        return metrics

    @staticmethod
    def _order(metrics: Dict) -> Dict:
        """Scalars first (``accuracy`` leading), lists and matrix last."""
        scalar_keys = [
            'accuracy', 'balanced_accuracy', 'macro_precision', 'macro_recall',
            'macro_f1', 'weighted_f1', 'many_shot_acc', 'medium_shot_acc',
            'few_shot_acc', 'auc_macro', 'ece'
        ]
        list_keys = [
            'precision_classwise', 'recall_classwise', 'f1_classwise',
            'support_classwise', 'confusion_matrix'
        ]
        return {k: metrics[k] for k in scalar_keys + list_keys if k in metrics}
