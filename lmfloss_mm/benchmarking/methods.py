"""The methods of the cross-validated benchmark and how their runs depend on
each other.

A method is trained from its preset config (the config whose name has the
method in its loss field, ``...-<method>-<epochs>e_...``), is a second stage
of another method's run (its config's ``SecondStageHook`` names the first
stage; :func:`~lmfloss_mm.grid.stages.first_stage_of`), or is computed
without training from another method's stored test predictions
(:data:`POST_HOC`: post-hoc logit adjustment of the CE runs).

* :data:`METHODS`: every single-label method, in report order;
* :func:`find_config`: the preset config of a method;
* :func:`order_methods`: the requested methods with the runs they need,
  each source before the methods that start from it;
* :func:`post_hoc_record`: the record of a post-hoc method, computed with
  ``ImbalancedClsMetric`` from the source run's predictions.
"""
import glob
import os.path as osp
import re
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from lmfloss_mm.grid.stages import with_sources
from lmfloss_mm.results.labels import PAPER_LOSSES, parse_config_name
from lmfloss_mm.results.record import RunRecord

__all__ = ['METHODS', 'DEFAULT_METHODS', 'POST_HOC', 'PostHoc',
           'find_config', 'method_of_config', 'order_methods',
           'post_hoc_record']


class PostHoc(NamedTuple):
    """A method computed from the test predictions of ``source``'s run of
    the same fold and seed, with post-hoc logit adjustment of strength
    ``tau`` (Menon et al., ICLR 2021)."""
    source: str
    tau: float


#: Methods computed without training (their source runs are trained).
POST_HOC: Dict[str, PostHoc] = {
    'ce-posthoc-la': PostHoc(source='ce', tau=1.0),
}

#: Every single-label method of the benchmark, in report order: the
#: paper's losses, deferred re-weighting, re-weighted and logit-adjusted
#: losses, re-sampling, then the two-stage recipes (first stage before its
#: second stages).
METHODS = (
    'ce', 'ce-posthoc-la', 'focal', 'ldam', 'lmf', 'ldam-drw', 'lmf-drw',
    'cb-focal', 'wce-bwcce', 'balanced-softmax', 'mixup-balanced-softmax',
    'ce-cas', 'ce-sqrt', 'ce-crt', 'ce-lws', 'ce-taunorm', 'ce-wb',
    'ce-wb-maxnorm')
#: What the tool trains without ``--methods``: the paper's four losses.
DEFAULT_METHODS = PAPER_LOSSES


def find_config(template: str, method: str) -> str:
    """The one config that ``template`` names for ``method``.

    Args:
        template (str): Config path with ``{method}`` and ``{epochs}``
            fields (``.../resnet18-w16_48px_1xb32-{method}-{epochs}e_
            isic2018-cv.py``); ``{epochs}`` matches any whole number.
        method (str): The method.

    Raises:
        FileNotFoundError: No config, or more than one, matches; the
            message names the pattern.
    """
    pattern = template.format(method=method, epochs='*')
    exact = re.compile(re.escape(template.format(
        method=method, epochs='\0')).replace('\0', r'\d+') + '$')
    found = sorted(p for p in glob.glob(pattern) if exact.match(p))
    if len(found) != 1:
        raise FileNotFoundError(
            f'method {method!r}: expected one config {pattern} (with a '
            f'number of epochs), found {len(found)}: {found}')
    return found[0]


def method_of_config(path: str) -> str:
    """The method a config is named for (the loss field of its name).

    Raises:
        ValueError: The name does not follow the naming convention.
    """
    fields = parse_config_name(path)
    if fields is None:
        raise ValueError(
            f'{path}: the name does not follow {{backbone}}_{{pretrain}}_'
            '{gpus}xb{batch}-{method}-{epochs}e_{dataset}.py, so its method '
            'is unknown')
    return fields['loss']


def order_methods(methods: Sequence[str],
                  first_stage: Callable[[str], Optional[str]]
                  ) -> Tuple[List[str], Dict[str, str], List[str]]:
    """The methods to run, each source before the methods that need it.

    Args:
        methods (Sequence[str]): The requested methods.
        first_stage (callable): Method -> the method whose best checkpoint
            its runs start from, or None (a one-stage method).

    Returns:
        tuple: ``(methods, sources, added)``: every method to run, in the
        requested order except that a first stage or the source of a
        post-hoc method comes before its first dependant;
        ``{method: its first stage or post-hoc source}``; the sources that
        were not requested and were added.

    Raises:
        ValueError: A method is listed twice, or the first stages form a
            cycle.
    """
    if len(set(methods)) != len(methods):
        raise ValueError(f'methods listed more than once: {list(methods)}')
    ordered, sources, added = with_sources(
        methods, lambda method: POST_HOC[method].source
        if method in POST_HOC else first_stage(method))
    return ordered, sources, [source for source, _ in added]


def post_hoc_record(source: RunRecord, method: str, path: str,
                    predictions: Optional[str] = None) -> RunRecord:
    """The record of post-hoc method ``method`` for the run ``source``.

    The metrics are ``ImbalancedClsMetric(logit_adjust_tau=tau)`` on the
    source run's stored test predictions with the source run's training
    counts, so they are the metrics the source run's test would have
    reported with that setting; nothing is trained. The record keeps the
    source's labels, fold, seed, settings and provenance, with ``loss`` =
    ``method``, ``seconds`` = 0 and ``info['post_hoc']`` naming the source.

    Args:
        source (RunRecord): The source method's run (with ``predictions``
            and ``info['train_counts']``).
        method (str): A key of :data:`POST_HOC`.
        path (str): Where the record will be stored.
        predictions (str, optional): Where the adjusted predictions are
            written (``pred_score``: the adjusted probabilities, and
            ``gt_label`` per sample). Defaults to None (not written).

    Raises:
        ValueError: ``source`` has no predictions or training counts.
    """
    import numpy as np
    import torch

    from lmfloss_mm.evaluation.functional import logit_adjusted_probs
    from lmfloss_mm.evaluation.metrics import ImbalancedClsMetric
    from lmfloss_mm.results.predictions import load_predictions
    post_hoc = POST_HOC[method]
    counts = source.info.get('train_counts')
    if not source.predictions or not counts:
        raise ValueError(
            f'{method} is computed from the test predictions and training '
            f'counts of {source.name}, which stored '
            f'{"no predictions" if not source.predictions else "no counts"}'
            f'; train {post_hoc.source} again (delete '
            f'{osp.dirname(source.path)})')
    scores, labels = load_predictions(source.predictions)
    metric = ImbalancedClsMetric(num_classes=scores.shape[1],
                                 cls_num_list=list(counts),
                                 logit_adjust_tau=post_hoc.tau,
                                 log_table=False)
    metric.process(None, [
        dict(pred_score=torch.from_numpy(s), gt_label=torch.tensor(int(y)))
        for s, y in zip(scores, labels)])
    metrics = metric.evaluate(len(labels))
    if predictions:
        _write_predictions(predictions, logit_adjusted_probs(
            scores, counts, post_hoc.tau), labels)
    info = dict(source.info, seconds=0.0, post_hoc=dict(
        source=source.path, source_loss=source.loss,
        method='post-hoc logit adjustment', tau=post_hoc.tau,
        train_counts=list(counts)))
    return RunRecord(
        path=path, config=source.config,
        config_stem=f'{source.config_stem}+{method}', seed=source.seed,
        fold=source.fold, dataset=source.dataset, backbone=source.backbone,
        loss=method, classes=source.classes,
        metrics={k: (v.tolist() if isinstance(v, np.ndarray) else v)
                 for k, v in metrics.items()},
        predictions=predictions, info=info)


def _write_predictions(path: str, scores, labels) -> None:
    """Per-sample ``pred_score`` / ``gt_label`` arrays, the layout of a
    ``tools/test.py --out`` dump that :func:`~lmfloss_mm.results.
    predictions.load_predictions` reads."""
    import pickle

    from lmfloss_mm.fileio import write_bytes_atomic
    write_bytes_atomic(path, pickle.dumps([
        dict(pred_score=score, gt_label=label.reshape(1))
        for score, label in zip(scores, labels)]))
