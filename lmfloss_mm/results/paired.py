"""The paired report: each loss against one or more reference losses on
the same data.

Runs of two losses with the same ``(fold, seed)`` (:attr:`RunRecord.
pair_key`) in the same dataset and backbone were trained on the same data
from the same seed; their difference is paired.  The report gives, per
loss, the mean ± std over its runs, the paired difference to the reference
with a Student t 95% interval (:func:`~.stats.paired_difference`), how
many pairs went each way, the per-class F1 and the macro-F1 of every run.
It is the report of the cross-validated benchmark (against CE and LMF) and
works as well on the seeds of a grid (``tools/make_tables.py --paired ce``).
:func:`paired_differences` gives the paired differences of every loss to
each reference, for the forest plot.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .labels import (BACKBONE_ORDER, DATASET_ORDER, LOSS_ORDER,
                     describe_loss, display, ordered)
from .record import RunRecord
from .stats import (NO_VALUE, PairedDiff, format_mean_std, format_paired,
                    mean_std, paired_difference)
from .tables import Table

__all__ = ['by_loss', 'paired', 'paired_differences', 'summary_table',
           'classwise_table', 'per_run_table', 'paired_report', 'SCALARS',
           'LEADERBOARD_SCALARS', 'DEFAULT_REFERENCES']

#: The losses the cross-validated benchmark compares every loss with.
DEFAULT_REFERENCES = ('ce', 'lmf')
#: Scalar metrics of the summary table (percent).
SCALARS = (('macro_f1', 'macro-F1'), ('balanced_accuracy', 'balanced acc.'),
           ('accuracy', 'accuracy'))
#: The summary of the cross-validated benchmark: :data:`SCALARS`, macro AUC
#: and the many / medium / few-shot accuracy of ``ImbalancedClsMetric``.
LEADERBOARD_SCALARS = SCALARS + (
    ('auc_macro', 'AUC'), ('many_shot_acc', 'many-shot acc.'),
    ('medium_shot_acc', 'medium-shot acc.'), ('few_shot_acc', 'few-shot acc.'))
Key = Tuple[Optional[int], Optional[int]]  # (fold, seed)


def by_loss(runs: Sequence[RunRecord]) -> Dict[str, Dict[Key, RunRecord]]:
    """loss -> (fold, seed) -> run, losses in report order.

    Raises:
        ValueError: Two runs of one loss share fold and seed.
    """
    out: Dict[str, Dict[Key, RunRecord]] = OrderedDict()
    for loss in ordered((r.loss for r in runs), LOSS_ORDER):
        out[loss] = {}
    for run in runs:
        if run.pair_key in out[run.loss]:
            raise ValueError(
                f'two results for loss {run.loss}, fold {run.fold}, seed '
                f'{run.seed}: {out[run.loss][run.pair_key].path} and '
                f'{run.path}')
        out[run.loss][run.pair_key] = run
    return out


def _value(run: RunRecord, metric: str,
           index: Optional[int] = None) -> Optional[float]:
    """``metric`` of a run (element ``index`` of a per-class metric); None
    when the run does not have it."""
    value = run.metric(metric)
    if value is not None and index is not None:
        value = value[index] if index < len(value) else None
    return None if value is None else float(value)


def _stat(runs, metric: str, index: Optional[int] = None):
    return mean_std([v for v in (_value(r, metric, index) for r in runs)
                     if v is not None])


def paired(runs: Sequence[RunRecord], loss: str, reference: str,
           metric: str, index: Optional[int] = None) -> PairedDiff:
    """Paired difference ``loss - reference`` of ``metric`` (element
    ``index`` of a per-class metric) over their shared (fold, seed)."""
    groups = by_loss(runs)
    mine, ref = groups.get(loss, {}), groups.get(reference, {})
    pairs = [(_value(mine[k], metric, index), _value(ref[k], metric, index))
             for k in sorted(set(mine) & set(ref), key=_key_order)]
    pairs = [p for p in pairs if None not in p]
    return paired_difference([a for a, _ in pairs], [b for _, b in pairs])


def paired_differences(runs: Sequence[RunRecord], references: Sequence[str],
                       metric: str = 'macro_f1'
                       ) -> 'OrderedDict[str, Dict[str, PairedDiff]]':
    """loss -> reference -> :func:`paired` difference ``loss - reference``
    of ``metric``, losses in report order; a loss has no entry for itself,
    nor for a reference without runs."""
    losses = by_loss(runs)
    return OrderedDict(
        (loss, {ref: paired(runs, loss, ref, metric) for ref in references
                if ref != loss and ref in losses})
        for loss in losses)


def _key_order(key: Key):
    fold, seed = key
    return (-1 if seed is None else seed, -1 if fold is None else fold)


def _paired_cells(runs: Sequence[RunRecord], groups, loss: str,
                  reference: str) -> List[str]:
    """Δ macro-F1 and Δ balanced accuracy of ``loss`` vs ``reference``
    (mean [95% CI] (n)) and its macro-F1 wins / losses."""
    if loss == reference or reference not in groups:
        return ['(reference)' if loss == reference else NO_VALUE] * 2 + [
            NO_VALUE]
    f1 = paired(runs, loss, reference, 'macro_f1')
    bacc = paired(runs, loss, reference, 'balanced_accuracy')
    return [f'{format_paired(f1)} (n={f1.n})',
            f'{format_paired(bacc)} (n={bacc.n})', f'{f1.wins} / {f1.losses}']


def summary_table(runs: Sequence[RunRecord], reference: str = 'ce',
                  scalars: Sequence[Tuple[str, str]] = SCALARS,
                  more_references: Sequence[str] = ()) -> Table:
    """One row per loss: runs, the ``scalars`` (mean ± std; default
    macro-F1, balanced accuracy, accuracy), the paired differences to
    ``reference`` and to each of ``more_references`` with 95% CI and
    wins/losses, and the mean time per run."""
    groups = by_loss(runs)
    references = [reference, *more_references]
    rows = []
    for loss, keyed in groups.items():
        group = list(keyed.values())
        cells = [describe_loss(loss), str(len(group))]
        cells += [format_mean_std(_stat(group, m)) for m, _ in scalars]
        for ref in references:
            cells += _paired_cells(runs, groups, loss, ref)
        seconds = [r.seconds for r in group if r.seconds is not None]
        cells.append(f'{np.mean(seconds):.0f}' if seconds else NO_VALUE)
        rows.append(cells)
    header = ['loss', 'runs'] + [title for _, title in scalars]
    for ref in references:
        header += [f'Δ macro-F1 vs {ref} [95% CI]',
                   f'Δ bal. acc. vs {ref} [95% CI]',
                   f'macro-F1 better / worse than {ref}']
    return Table('Summary', header + ['s / run'], rows)


def classwise_table(runs: Sequence[RunRecord],
                    reference: str = 'ce') -> Table:
    """Per-class F1: the test images per run, mean ± std per loss, and the
    paired difference of each loss to ``reference`` (mean [95% CI])."""
    first = next(r for r in runs if r.metric('f1_classwise') is not None)
    classes = first.classes or [
        str(i) for i in range(len(first.metric('f1_classwise')))]
    groups = by_loss(runs)
    rows = []
    supports = [r.metric('support_classwise') for r in runs]
    supports = [s for s in supports if s is not None and
                len(s) == len(classes)]
    if len(supports) == len(runs):
        support = np.array(supports)
        rows.append(['test images per fold'] + [
            str(lo) if lo == hi else f'{lo}–{hi}'
            for lo, hi in zip(support.min(0), support.max(0))])
    for loss, keyed in groups.items():
        rows.append([f'F1 {loss}'] + [
            format_mean_std(_stat(keyed.values(), 'f1_classwise', c))
            for c in range(len(classes))])
    if reference in groups:
        for loss in groups:
            if loss != reference:
                rows.append([f'Δ F1 {loss} − {reference}'] + [
                    format_paired(
                        paired(runs, loss, reference, 'f1_classwise', c))
                    for c in range(len(classes))])
    return Table('Per-class F1', ['per-class F1 (%)'] + list(classes), rows)


def per_run_table(runs: Sequence[RunRecord],
                  metric: str = 'macro_f1') -> Table:
    """``metric`` of every run: one row per loss, one column per (fold,
    seed)."""
    groups = by_loss(runs)
    keys = sorted({k for keyed in groups.values() for k in keyed},
                  key=_key_order)

    def title(key):
        fold, seed = key
        return (f'fold {fold} ' if fold is not None else '') + f'seed {seed}'

    def cell(run):
        value = None if run is None else _value(run, metric)
        return NO_VALUE if value is None else f'{value:.1f}'

    rows = [[loss] + [cell(keyed.get(k)) for k in keys]
            for loss, keyed in groups.items()]
    return Table('Every run', ['loss'] + [title(k) for k in keys], rows)


def _paired_section(runs: Sequence[RunRecord], reference: str,
                    notes: Sequence[str],
                    scalars: Sequence[Tuple[str, str]] = SCALARS,
                    more_references: Sequence[str] = ()) -> List[str]:
    groups = by_loss(runs)
    more = [ref for ref in more_references if ref in groups]
    n_pairs = {loss: paired(runs, loss, reference, 'macro_f1').n
               for loss in groups if loss != reference}
    held_out = 'the held-out fold' if all(
        r.fold is not None for r in runs) else 'the test split'
    parts = list(notes) + [
        f'Test = {held_out}, checkpoint = best validation macro-F1. '
        'Percent; mean ± sample std over all runs (folds × seeds) of a '
        f'loss. Δ = paired difference to {reference} over the runs with the '
        'same fold and seed, with a Student t 95% confidence interval '
        f'(n pairs: {", ".join(f"{k} {v}" for k, v in n_pairs.items())})' +
        (f'; the same against {", ".join(more)}.' if more else '.'),
        summary_table(runs, reference, scalars, more).markdown()]
    if any(r.metric('f1_classwise') is not None for r in runs):
        parts += [
            'Per-class F1 (mean ± std over runs; Δ rows: paired difference '
            f'to {reference}, mean [95% CI]):',
            classwise_table(runs, reference).markdown()]
    return parts + ['Macro-F1 of every run:',
                    per_run_table(runs, 'macro_f1').markdown()]


def paired_report(runs: Sequence[RunRecord], reference: str = 'ce',
                  title: str = '', notes: Sequence[str] = (),
                  scalars: Sequence[Tuple[str, str]] = SCALARS,
                  more_references: Sequence[str] = ()) -> str:
    """The paired report of ``runs`` in Markdown: one section per dataset
    x backbone (a single one without its own heading).

    Args:
        runs (Sequence[RunRecord]): The runs.
        reference (str): Loss every other loss is compared with (summary,
            per-class F1). Defaults to ``'ce'``.
        title (str): Heading. Defaults to none.
        notes (Sequence[str]): Paragraphs before the tables.
        scalars (Sequence[tuple[str, str]]): ``(metric, column title)`` of
            the summary's mean ± std columns. Defaults to :data:`SCALARS`.
        more_references (Sequence[str]): Further losses every loss is
            compared with in the summary (those with runs). Defaults to
            none.
    """
    heading = [f'## {title}'] if title else []
    if not runs:
        return '\n\n'.join(heading + ['No results yet.']) + '\n'
    groups = OrderedDict()
    for dataset in ordered((r.dataset for r in runs), DATASET_ORDER):
        for backbone in ordered((r.backbone for r in runs), BACKBONE_ORDER):
            group = [r for r in runs
                     if (r.dataset, r.backbone) == (dataset, backbone)]
            if group:
                groups[(dataset, backbone)] = group
    if len(groups) == 1:
        parts = heading + _paired_section(runs, reference, notes, scalars,
                                          more_references)
    else:
        parts = heading + list(notes)
        for (dataset, backbone), group in groups.items():
            parts.append(f'### {display(dataset)}, {display(backbone)}')
            parts += _paired_section(group, reference, (), scalars,
                                     more_references)
    return '\n\n'.join(parts) + '\n'
