"""The results report: the paper's tables of any set of runs.

* the paper's layout: rows = dataset x backbone, columns = losses, one
  table per metric (:data:`MAIN_METRICS`);
* per-class F1: one table per dataset, rows = backbone x loss, columns =
  classes;
* published numbers (:mod:`.published`) next to ours;
* one CSV row per run.

Cells are the mean ± sample standard deviation over the runs of a cell
(the seeds of a grid, the folds x seeds of a cross-validation), formatted
by :func:`~.stats.format_mean_std`; ``(n=k)`` is added to the cells of a
table whose cells do not all hold the same runs.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from lmfloss_mm.fileio import write_text_atomic
from .labels import (BACKBONE_ORDER, DATASET_ORDER, LOSS_ORDER, display,
                     ordered)
from .published import PUBLISHED
from .record import DEFAULT_PREFIX, RunRecord
from .stats import NO_VALUE, MeanStd, format_mean_std, mean_std
from .tables import Table

__all__ = ['MAIN_METRICS', 'main_table', 'per_class_tables',
           'published_table', 'runs_table', 'make_report']

#: ``(metric key without prefix, title)`` of the paper-layout tables.
MAIN_METRICS = (
    ('accuracy', 'Accuracy'),
    ('macro_precision', 'Macro precision'),
    ('macro_recall', 'Macro recall'),
    ('macro_f1', 'Macro F1'),
    ('balanced_accuracy', 'Balanced accuracy'),
)


def _num(value: Optional[float], digits: int = 4):
    """A CSV number: rounded, ``''`` for none (or nan)."""
    if value is None or value != value:
        return ''
    return round(value, digits)


def _cells(runs: Sequence[RunRecord], metric: str, prefix: str
           ) -> Dict[Tuple[str, str, str], Tuple[MeanStd, frozenset]]:
    """``{cell: (MeanStd, runs' (fold, seed) keys)}`` of ``metric``."""
    values = OrderedDict()
    for run in runs:
        value = run.scalar(metric, prefix)
        if value is not None:
            entry = values.setdefault(run.cell, ([], []))
            entry[0].append(value)
            entry[1].append(run.pair_key)
    return {cell: (mean_std(v), frozenset(keys))
            for cell, (v, keys) in values.items()}


def main_table(runs: Sequence[RunRecord], metric: str, title: str,
               prefix: str = DEFAULT_PREFIX, digits: int = 2) -> Table:
    """Rows = dataset x backbone, columns = losses, cells = one metric."""
    cells = _cells(runs, metric, prefix)
    show_n = len({keys for _, keys in cells.values()}) > 1
    losses = ordered((r.loss for r in runs), LOSS_ORDER)
    rows, csv_rows = [], []
    for dataset in ordered((r.dataset for r in runs), DATASET_ORDER):
        for backbone in ordered((r.backbone for r in runs), BACKBONE_ORDER):
            if not any(r.dataset == dataset and r.backbone == backbone
                       for r in runs):
                continue
            stats = [cells.get((dataset, backbone, loss), (mean_std([]),))[0]
                     for loss in losses]
            rows.append([display(dataset), display(backbone)] + [
                format_mean_std(s, digits, show_n and s.n > 0)
                for s in stats])
            csv_rows.append([dataset, backbone] + [
                x for s in stats for x in (_num(s.mean), _num(s.std), s.n)])
    return Table(
        title=title,
        header=['Dataset', 'Backbone'] + [display(x) for x in losses],
        rows=rows,
        csv_header=['dataset', 'backbone'] + [
            f'{loss}_{x}' for loss in losses for x in ('mean', 'std', 'n')],
        csv_rows=csv_rows,
        align=['l', 'l'] + ['r'] * len(losses))


def per_class_tables(runs: Sequence[RunRecord],
                     prefix: str = DEFAULT_PREFIX, digits: int = 2,
                     warn: Optional[Callable[[str], None]] = None
                     ) -> Dict[str, Table]:
    """Per-class F1 of each dataset: rows = backbone x loss, columns =
    classes (the runs' class names, else the class indices).  Runs whose
    classes differ from the first run of their dataset are left out, with
    a warning."""
    tables = OrderedDict()
    for dataset in ordered((r.dataset for r in runs), DATASET_ORDER):
        classes, rows_by_key = None, OrderedDict()
        for run in runs:
            f1 = run.metric('f1_classwise', prefix)
            if run.dataset != dataset or not isinstance(f1, list):
                continue
            names = run.classes or [str(i) for i in range(len(f1))]
            classes = classes or names
            if len(f1) != len(classes) or names != classes:
                if warn:
                    warn(f'{run.path}: classes {names} differ from '
                         f'{classes} of the other {dataset} runs; left out '
                         'of the per-class table')
                continue
            rows_by_key.setdefault((run.backbone, run.loss), []).append(f1)
        if not rows_by_key:
            continue
        keys = [(b, loss)
                for b in ordered((k[0] for k in rows_by_key), BACKBONE_ORDER)
                for loss in ordered((k[1] for k in rows_by_key), LOSS_ORDER)
                if (b, loss) in rows_by_key]
        rows, csv_rows = [], []
        for backbone, loss in keys:
            values = rows_by_key[(backbone, loss)]
            stats = [mean_std([v[i] for v in values])
                     for i in range(len(classes))]
            rows.append([display(backbone), display(loss), len(values)] +
                        [format_mean_std(s, digits) for s in stats])
            csv_rows.append([backbone, loss, len(values)] + [
                x for s in stats for x in (_num(s.mean), _num(s.std))])
        tables[dataset] = Table(
            title=f'Per-class F1, {display(dataset)}',
            header=['Backbone', 'Loss', 'n'] + list(classes),
            rows=rows,
            csv_header=['backbone', 'loss', 'n'] + [
                f'{name}_{x}' for name in classes for x in ('mean', 'std')],
            csv_rows=csv_rows,
            align=['l', 'l', 'r'] + ['r'] * len(classes))
    return tables


def published_table(runs: Sequence[RunRecord],
                    prefix: str = DEFAULT_PREFIX, digits: int = 2,
                    published=PUBLISHED) -> Table:
    """Each published number, ours for the same cell and ``ours −
    published`` (of the mean over runs)."""
    rows, csv_rows, sources = [], [], []
    for pub in published:
        cell = _cells(runs, pub.metric, prefix).get(
            (pub.dataset, pub.backbone, pub.loss))
        ours = cell[0] if cell else mean_std([])
        diff = ours.mean - pub.value if ours.n else None
        if pub.source not in sources:
            sources.append(pub.source)
        rows.append([
            display(pub.dataset), display(pub.backbone), display(pub.loss),
            pub.metric, f'{pub.value:.{digits}f}',
            format_mean_std(ours, digits) if ours.n else 'not run', ours.n,
            NO_VALUE if diff is None else f'{diff:+.{digits}f}',
            f'[{sources.index(pub.source) + 1}]'
        ])
        csv_rows.append([
            pub.dataset, pub.backbone, pub.loss, pub.metric, pub.value,
            _num(ours.mean), _num(ours.std), ours.n, _num(diff), pub.source
        ])
    return Table(
        title='Published vs ours',
        header=['Dataset', 'Backbone', 'Loss', 'Metric', 'Published',
                'Ours', 'n', 'Ours − published', 'Source'],
        rows=rows,
        csv_header=['dataset', 'backbone', 'loss', 'metric', 'published',
                    'ours_mean', 'ours_std', 'n', 'difference', 'source'],
        csv_rows=csv_rows,
        align=['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'l'],
        note='\n'.join(f'[{i}] {s}' for i, s in enumerate(sources, 1)))


def runs_table(runs: Sequence[RunRecord]) -> Table:
    """One row per run: labels, seed, fold, every scalar metric, the
    per-class F1 (``f1_<class>``) and the record's path."""
    keys = list(OrderedDict.fromkeys(
        k for r in runs for k, v in r.metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)))
    classes = list(OrderedDict.fromkeys(
        c for r in runs for c in (r.classes or [])))
    header = ['config_stem', 'seed', 'fold', 'dataset', 'backbone',
              'loss'] + keys + [f'f1_{c}' for c in classes] + ['path']
    rows = []
    for r in runs:
        f1 = dict(zip(r.classes or [], r.metric('f1_classwise') or []))
        rows.append([r.config_stem, _blank(r.seed), _blank(r.fold),
                     r.dataset, r.backbone, r.loss] +
                    [r.metrics.get(k, '') for k in keys] +
                    [f1.get(c, '') for c in classes] + [r.path])
    return Table('Runs', header, rows)


def _blank(value):
    return '' if value is None else value


def make_report(runs: Sequence[RunRecord], out_dir: str,
                prefix: str = DEFAULT_PREFIX, digits: int = 2,
                sources: Sequence[str] = (), extra: Sequence[str] = (),
                warn: Optional[Callable[[str], None]] = None
                ) -> Tuple[str, List[str]]:
    """Write every table to ``out_dir``; returns ``(Markdown, files)``.

    Files: ``results.md`` (all tables, then the ``extra`` Markdown
    sections), ``<metric>.csv`` per paper-layout table,
    ``per_class_f1_<dataset>.csv``, ``published_vs_ours.csv`` and
    ``runs.csv`` (one row per run).
    """
    os.makedirs(out_dir, exist_ok=True)
    written = []

    def save(table: Table, name: str):
        path = osp.join(out_dir, name)
        table.write_csv(path)
        written.append(path)

    configs = {r.config_stem for r in runs}
    parts = [
        '# Results', '',
        f'{len(runs)} runs of {len(configs)} configs' +
        (f' from {", ".join(sources)}' if sources else '') +
        '. Test split, checkpoint chosen by validation macro F1. Cells: '
        'mean ± sample standard deviation (ddof=1) over the runs of a cell '
        '(seeds, or folds x seeds), in percent; a single run shows its '
        'value alone; "(n=k)": number of runs, shown when the cells of a '
        'table differ in their runs.'
    ]
    for metric, title in MAIN_METRICS:
        table = main_table(runs, metric, title, prefix, digits)
        if not any(c != NO_VALUE for row in table.rows for c in row[2:]):
            continue
        parts += ['', f'## {title}', '', table.markdown()]
        save(table, f'{metric}.csv')
    class_tables = per_class_tables(runs, prefix, digits, warn)
    if class_tables:
        parts += ['', '## Per-class F1']
        for dataset, table in class_tables.items():
            parts += ['', f'### {display(dataset)}', '', table.markdown()]
            save(table, f'per_class_f1_{dataset}.csv')
    table = published_table(runs, prefix, digits)
    parts += ['', '## Published vs ours', '', table.markdown()]
    save(table, 'published_vs_ours.csv')
    for section in extra:
        parts += ['', section.rstrip('\n')]
    save(runs_table(runs), 'runs.csv')
    markdown = '\n'.join(parts) + '\n'
    path = osp.join(out_dir, 'results.md')
    write_text_atomic(path, markdown)
    written.insert(0, path)
    return markdown, written
