"""Aggregate per-run benchmark results into Markdown and CSV.

A *record* is the dict that ``tools/benchmark_isic2018_cv.py`` stores per
run (``result.json``, one line of ``runs.jsonl``).  The keys used here:
``loss``, ``fold``, ``seed``, ``macro_f1``, ``balanced_accuracy``,
``accuracy`` (percent), ``f1_classwise`` (list, percent), ``classes``,
``support_classwise``, ``time_s``, ``best_epoch``.

Statistics (:mod:`.stats`): mean ± sample std over all runs of a loss
(folds x seeds), and the paired difference to the reference loss over the
runs that share fold and seed, with a Student t 95% interval.
"""
import csv
import io
import json
import math
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .stats import format_mean_std, format_paired, mean_std, paired_difference

#: Display names of the losses, in report order.
LOSS_NAMES = {
    'ce': 'cross-entropy',
    'focal': 'focal (γ 1.5, margin weights)',
    'ldam': 'LDAM (max_m 0.5, s 30, margin weights)',
    'lmf': 'LMF (1.5 LDAM + 1.0 focal)',
}
#: Scalar metrics of a record (percent).
SCALARS = ('macro_f1', 'balanced_accuracy', 'accuracy')
Key = Tuple[int, int]  # (fold, seed)


def loss_order(losses: Iterable[str]) -> List[str]:
    """Known losses in :data:`LOSS_NAMES` order, then the others sorted."""
    losses = set(losses)
    return [k for k in LOSS_NAMES if k in losses] + sorted(
        losses - set(LOSS_NAMES))


def by_loss(records: Sequence[dict]) -> Dict[str, Dict[Key, dict]]:
    """loss -> (fold, seed) -> record (a repeated key is an error)."""
    out: Dict[str, Dict[Key, dict]] = defaultdict(dict)
    for record in records:
        key = (int(record['fold']), int(record['seed']))
        if key in out[record['loss']]:
            raise ValueError(f'two results for loss {record["loss"]}, fold '
                             f'{key[0]}, seed {key[1]}')
        out[record['loss']][key] = record
    return dict(out)


def paired(records: Sequence[dict], loss: str, reference: str,
           metric: str, index: Optional[int] = None):
    """Paired difference ``loss - reference`` of ``metric`` (element
    ``index`` of a list metric) over the shared (fold, seed) keys."""
    groups = by_loss(records)
    runs, ref = groups.get(loss, {}), groups.get(reference, {})
    keys = sorted(set(runs) & set(ref))

    def value(record):
        v = record[metric]
        return v if index is None else v[index]

    return paired_difference([value(runs[k]) for k in keys],
                             [value(ref[k]) for k in keys])


def _row(cells: Sequence[str]) -> str:
    return '| ' + ' | '.join(cells) + ' |'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [_row(header), '|' + '---|' * len(header)]
    lines += [_row(r) for r in rows]
    return '\n'.join(lines)


def summary_table(records: Sequence[dict], reference: str = 'ce') -> str:
    """One row per loss: runs, macro-F1, balanced accuracy, accuracy (mean
    ± std), paired differences to ``reference`` with 95% CI, wins/losses
    and the mean time per run."""
    groups = by_loss(records)
    rows = []
    for loss in loss_order(groups):
        runs = list(groups[loss].values())
        cells = [LOSS_NAMES.get(loss, loss), str(len(runs))]
        cells += [format_mean_std(mean_std([r[m] for r in runs]))
                  for m in SCALARS]
        if loss == reference or reference not in groups:
            cells += ['(reference)' if loss == reference else '–'] * 2
            cells += ['–']
        else:
            f1 = paired(records, loss, reference, 'macro_f1')
            bacc = paired(records, loss, reference, 'balanced_accuracy')
            cells += [f'{format_paired(f1)} (n={f1.n})',
                      f'{format_paired(bacc)} (n={bacc.n})',
                      f'{f1.wins} / {f1.losses}']
        cells.append(f'{np.mean([r["time_s"] for r in runs]):.0f}')
        rows.append(cells)
    header = ['loss', 'runs', 'macro-F1', 'balanced acc.', 'accuracy',
              f'Δ macro-F1 vs {reference} [95% CI]',
              f'Δ bal. acc. vs {reference} [95% CI]',
              f'macro-F1 better / worse than {reference}', 's / run']
    return _table(header, rows)


def classwise_table(records: Sequence[dict], reference: str = 'ce') -> str:
    """Per-class F1: mean ± std per loss, and the paired difference of each
    loss to ``reference`` (mean [95% CI])."""
    classes = records[0]['classes']
    groups = by_loss(records)
    rows = []
    if all('support_classwise' in r for r in records):
        support = np.array([r['support_classwise'] for r in records])
        low, high = support.min(0), support.max(0)
        rows.append(['test images per fold'] + [
            str(lo) if lo == hi else f'{lo}–{hi}'
            for lo, hi in zip(low, high)
        ])
    for loss in loss_order(groups):
        runs = list(groups[loss].values())
        rows.append([f'F1 {loss}'] + [
            format_mean_std(mean_std([r['f1_classwise'][c] for r in runs]))
            for c in range(len(classes))
        ])
    if reference in groups:
        for loss in loss_order(groups):
            if loss == reference:
                continue
            rows.append([f'Δ F1 {loss} − {reference}'] + [
                format_paired(
                    paired(records, loss, reference, 'f1_classwise', c))
                for c in range(len(classes))
            ])
    return _table(['per-class F1 (%)'] + list(classes), rows)


def per_run_table(records: Sequence[dict], metric: str = 'macro_f1') -> str:
    """``metric`` of every run: one row per loss, one column per (fold,
    seed)."""
    groups = by_loss(records)
    keys = sorted({k for runs in groups.values() for k in runs},
                  key=lambda k: (k[1], k[0]))
    rows = []
    for loss in loss_order(groups):
        runs = groups[loss]
        rows.append([loss] + [
            f'{runs[k][metric]:.1f}' if k in runs else '–' for k in keys
        ])
    return _table(['loss'] + [f'fold {f} seed {s}' for f, s in keys], rows)


def format_report(records: Sequence[dict], reference: str = 'ce',
                  title: str = '', notes: Sequence[str] = ()) -> str:
    """The full Markdown report of ``records``."""
    if not records:
        return (f'## {title}\n\n' if title else '') + 'No results yet.\n'
    n_pairs = {loss: paired(records, loss, reference, 'macro_f1').n
               for loss in by_loss(records) if loss != reference}
    parts = [f'## {title}'] if title else []
    parts += list(notes)
    parts += [
        'Test = the held-out fold, checkpoint = best validation macro-F1. '
        'Percent; mean ± sample std over all runs (folds × seeds) of a '
        f'loss. Δ = paired difference to {reference} over the runs with the '
        'same fold and seed, with a Student t 95% confidence interval '
        f'(n pairs: {", ".join(f"{k} {v}" for k, v in n_pairs.items())}).',
        summary_table(records, reference),
        'Per-class F1 (mean ± std over runs; Δ rows: paired difference to '
        f'{reference}, mean [95% CI]):',
        classwise_table(records, reference),
        'Macro-F1 of every run:',
        per_run_table(records, 'macro_f1'),
    ]
    return '\n\n'.join(parts) + '\n'


def records_to_csv(records: Sequence[dict]) -> str:
    """One CSV row per run (per-class F1 as ``f1_<class>`` columns)."""
    if not records:
        return ''
    classes = records[0]['classes']
    fields = ['loss', 'fold', 'seed'] + list(SCALARS) + [
        f'f1_{c}' for c in classes
    ] + ['best_epoch', 'best_val_macro_f1', 'time_s']
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(fields)
    for r in sorted(records, key=sort_key):
        row = [r['loss'], r['fold'], r['seed']]
        row += [f'{r[m]:.4f}' for m in SCALARS]
        row += [f'{v:.4f}' for v in r['f1_classwise']]
        row += [r.get('best_epoch', ''), _fmt(r.get('best_val_macro_f1')),
                f'{r["time_s"]:.1f}']
        writer.writerow(row)
    return out.getvalue()


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ''
    return f'{value:.4f}'


def sort_key(record: dict):
    """Runs ordered by seed, fold, then loss (report order)."""
    order = list(LOSS_NAMES)
    loss = record['loss']
    return (int(record['seed']), int(record['fold']),
            order.index(loss) if loss in order else len(order), loss)


def records_to_jsonl(records: Sequence[dict]) -> str:
    return ''.join(
        json.dumps(r, sort_keys=True) + '\n'
        for r in sorted(records, key=sort_key))
