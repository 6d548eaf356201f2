"""The ODIR-5K challenge score of multi-label predictions."""
import logging
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmpretrain.registry import METRICS

from ..functional import binary_roc_auc


def cohen_kappa(target: np.ndarray, pred: np.ndarray) -> float:
    r"""Cohen's kappa of two binary raters:
    :math:`\kappa = (p_o - p_e) / (1 - p_e)` with :math:`p_o` the observed
    agreement and :math:`p_e = \sum_{c \in \{0, 1\}} P(t = c) P(\hat t = c)`
    the agreement expected by chance; ``nan`` when :math:`p_e = 1` (both
    raters give one and the same answer throughout).

    Args:
        target (np.ndarray): ``(M,)`` bool ground truth.
        pred (np.ndarray): ``(M,)`` bool decisions.
    """
    target = np.asarray(target, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    observed = float(np.mean(target == pred))
    t1, p1 = float(np.mean(target)), float(np.mean(pred))
    expected = t1 * p1 + (1 - t1) * (1 - p1)
    if expected == 1:
        return float('nan')
    return (observed - expected) / (1 - expected)


def odir_challenge_scores(target: np.ndarray, scores: np.ndarray,
                          thr: float = 0.5) -> Dict[str, float]:
    """Kappa, F1, AUC and their mean over every (sample, label) pair, as
    the ODIR-5K challenge's evaluation computes them.

    The challenge flattens the ``(N, C)`` ground truth and scores, binarises
    the scores with ``score > thr`` (strictly greater) and computes Cohen's
    kappa and scikit-learn's ``f1_score(..., average='micro')`` of the
    decisions and ``roc_auc_score`` of the scores. On flattened binary
    labels the micro average runs over both answers (0 and 1), so that
    "F1" equals the fraction of correct decisions (accuracy).

    Args:
        target (np.ndarray): ``(N, C)`` 0/1 ground truth.
        scores (np.ndarray): ``(N, C)`` probabilities.
        thr (float): Decision threshold. Defaults to 0.5.

    Returns:
        dict: ``kappa``, ``f1``, ``auc`` and ``final_score`` (their mean),
        on the challenge's scale (fractions, kappa in ``[-1, 1]``); ``nan``
        where undefined (AUC without both answers in the ground truth).
    """
    truth = np.asarray(target).reshape(-1).astype(bool)
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    decisions = flat > thr
    kappa = cohen_kappa(truth, decisions)
    f1 = float(np.mean(truth == decisions))
    auc = binary_roc_auc(truth, flat)
    return dict(kappa=kappa, f1=f1, auc=auc,
                final_score=(kappa + f1 + auc) / 3.0)


@METRICS.register_module()
class ODIRScore(BaseMetric):
    r"""The ODIR-5K challenge score of multi-label predictions.

    The ODIR-5K challenge (8 labels N, D, G, C, A, H, M, O per patient)
    ranks by the mean of three numbers computed over all (patient, label)
    pairs flattened into one list, with the decisions ``score > thr`` (0.5):

    * ``kappa``: Cohen's kappa of the decisions;
    * ``f1``: scikit-learn's ``f1_score(average='micro')`` of the decisions,
      which on flattened binary labels equals their accuracy;
    * ``auc``: ROC AUC of the scores (rank-based, ties count 1/2);
    * ``final_score``: :math:`(\kappa + F_1 + AUC) / 3`.

    Reported under ``odir/<name>`` on the challenge's scale (fractions, not
    percent). The decision rule is the challenge's strict ``>``, while
    MMPretrain's ``MultiLabelMetric`` and ``MultiLabelClsHead`` predict a
    label at ``score >= thr``; they differ only for a score of exactly
    ``thr``. Each sample is a prediction unit: with ODIR-5K's
    ``sample_unit='patient'`` these are the challenge's (patient, label)
    pairs; with ``sample_unit='image'`` they would be (eye, label) pairs,
    which is why the project's image-level configs do not report this
    metric.

    Needs ``pred_score`` (probabilities in ``[0, 1]``, e.g. the sigmoid
    scores of ``MultiLabelLinearClsHead``) and 0/1 ground truth
    (``gt_score`` or ``gt_label``) in every data sample.

    Args:
        thr (float): Decision threshold, in ``(0, 1)``. Defaults to 0.5 (the
            challenge's).
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results are
            gathered in distributed evaluation. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to ``'odir'``.
    """

    default_prefix: Optional[str] = 'odir'

    def __init__(self,
                 thr: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 < thr < 1:
            raise ValueError(f'ODIRScore: thr must be in (0, 1), got {thr}')
        self.thr = float(thr)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for data_sample in data_samples:
            if 'pred_score' not in data_sample:
                raise ValueError('ODIRScore needs pred_score in every data '
                                 'sample (a multi-label head provides it)')
            scores = torch.as_tensor(data_sample['pred_score']).detach().cpu()
            num_classes = scores.numel()
            if 'gt_score' in data_sample:
                target = torch.as_tensor(data_sample['gt_score'])
            else:
                target = torch.zeros(num_classes)
                target[torch.as_tensor(data_sample['gt_label']).long()] = 1
            self.results.append(
                dict(pred_score=scores.double().reshape(-1).numpy(),
                     gt=target.detach().cpu().double().reshape(-1).numpy()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        scores = np.stack([r['pred_score'] for r in results])
        target = np.stack([r['gt'] for r in results])
        if scores.shape != target.shape:
            raise ValueError(f'ODIRScore: scores of shape {scores.shape} for '
                             f'ground truth of shape {target.shape}')
        if not np.isin(target, (0.0, 1.0)).all():
            raise ValueError('ODIRScore needs 0/1 ground truth; got values '
                             f'{np.unique(target)[:10].tolist()}')
        if not np.isfinite(scores).all() or scores.min() < 0 or \
                scores.max() > 1:
            raise ValueError(
                'ODIRScore needs pred_score probabilities in [0, 1]; got '
                f'values in [{scores.min():g}, {scores.max():g}]')
        metrics = odir_challenge_scores(target, scores, self.thr)
        if np.isnan(metrics['final_score']):
            print_log('ODIRScore: the score is undefined (nan) for this '
                      'evaluation set: its ground truth (or every decision) '
                      'is a single answer over all (sample, label) pairs',
                      logger='current', level=logging.WARNING)
        return metrics
