"""Tables of a finished grid, in Markdown and CSV.

* the paper's layout: rows = dataset x backbone, columns = losses, one
  table per metric (:data:`MAIN_METRICS`);
* per-class F1: one table per dataset, rows = backbone x loss, columns =
  classes;
* published numbers (:mod:`lmfloss_mm.reporting.published`) next to ours.

Cells are the mean ± sample standard deviation (``ddof=1``) over seeds;
``—`` stands for the standard deviation of a single seed, and ``(n=k)`` is
added to the cells of a table whose cells do not all have the same seeds.
"""
import csv
import math
import os
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .collect import DEFAULT_PREFIX, RunResult, metric_value
from .published import PUBLISHED

#: ``(metric key without prefix, title)`` of the paper-layout tables.
MAIN_METRICS = (
    ('accuracy', 'Accuracy'),
    ('macro_precision', 'Macro precision'),
    ('macro_recall', 'Macro recall'),
    ('macro_f1', 'Macro F1'),
    ('balanced_accuracy', 'Balanced accuracy'),
)

#: Row and column order; labels not listed come after, sorted.
DATASET_ORDER = ('ham10000', 'isic2019', 'odir5k')
BACKBONE_ORDER = ('resnet50', 'efficientnetv2-s')
LOSS_ORDER = ('ce', 'focal', 'ldam', 'lmf')

#: How labels are printed in Markdown (CSV keeps the labels).
DISPLAY_NAMES = {
    'ham10000': 'HAM10000',
    'isic2019': 'ISIC-2019',
    'odir5k': 'ODIR-5K',
    'resnet50': 'ResNet-50',
    'efficientnetv2-s': 'EfficientNetV2-S',
    'ce': 'CE',
    'focal': 'Focal',
    'ldam': 'LDAM',
    'lmf': 'LMF',
}

DASH = '—'


@dataclass(frozen=True)
class Stat:
    """Mean and sample std (``None`` for one value) of the seeds' values."""
    mean: float
    std: Optional[float]
    n: int
    seeds: Tuple[int, ...]


def summarize(values: Sequence[float],
              seeds: Sequence[int] = ()) -> Optional[Stat]:
    """:class:`Stat` of ``values`` (``None`` if there is none)."""
    values = [float(v) for v in values]
    if not values:
        return None
    mean = sum(values) / len(values)
    std = None
    if len(values) > 1:
        std = math.sqrt(
            sum((v - mean)**2 for v in values) / (len(values) - 1))
    return Stat(mean, std, len(values), tuple(sorted(seeds)))


def format_stat(stat: Optional[Stat], digits: int = 2,
                show_n: bool = False) -> str:
    """``'62.94 ± 1.20'``, ``'62.94 ± —'`` (one seed), plus ``' (n=3)'``
    when ``show_n``; ``''`` for no value."""
    if stat is None:
        return ''
    std = DASH if stat.std is None else f'{stat.std:.{digits}f}'
    text = f'{stat.mean:.{digits}f} ± {std}'
    return f'{text} (n={stat.n})' if show_n else text


def display(label: str) -> str:
    """Markdown name of a label: ``'odir5k'`` → ``'ODIR-5K'``,
    ``'lmf-cos'`` → ``'LMF-cos'``; unknown labels are kept."""
    if label in DISPLAY_NAMES:
        return DISPLAY_NAMES[label]
    head, sep, rest = label.partition('-')
    if sep and head in DISPLAY_NAMES:
        return f'{DISPLAY_NAMES[head]}-{rest}'
    return label


def ordered(labels, preferred: Sequence[str]) -> List[str]:
    """Unique labels, those of ``preferred`` first in its order; a label
    ``'<known>-<variant>'`` sits right after its known base."""

    def key(label):
        head = label.split('-')[0].split(' ')[0]
        for rank, name in enumerate(preferred):
            if label == name:
                return (rank, 0, label)
            if head == name:
                return (rank, 1, label)
        return (len(preferred), 0, label)

    return sorted(dict.fromkeys(labels), key=key)


@dataclass
class Table:
    """One table: Markdown cells (display names) and CSV cells (labels and
    numbers)."""
    title: str
    header: List[str]
    rows: List[List[str]]
    csv_header: List[str]
    csv_rows: List[list]
    align: Optional[List[str]] = None
    note: str = ''

    def markdown(self) -> str:
        align = self.align or ['l'] * len(self.header)

        def line(cells):
            return '| ' + ' | '.join(
                str(c).replace('|', '\\|') for c in cells) + ' |'

        rule = '|' + '|'.join('---:' if a == 'r' else '---'
                              for a in align) + '|'
        lines = [line(self.header), rule] + [line(r) for r in self.rows]
        if self.note:
            lines += ['', self.note]
        return '\n'.join(lines)

    def write_csv(self, path: str) -> None:
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(self.csv_header)
            writer.writerows(self.csv_rows)


def _num(value: Optional[float], digits: int = 4):
    return '' if value is None else round(value, digits)


def _show_n(stats) -> bool:
    """Whether the cells differ in their seeds."""
    return len({s.seeds or s.n for s in stats if s is not None}) > 1


def _values(runs: Sequence[RunResult], metric: str, prefix: str):
    """``{cell: ([values], [seeds])}`` of the runs that have ``metric``."""
    cells = OrderedDict()
    for run in runs:
        value = metric_value(run.metrics, metric, prefix)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values, seeds = cells.setdefault(run.cell, ([], []))
            values.append(value)
            seeds.append(run.seed)
    return cells


def main_table(runs: Sequence[RunResult], metric: str, title: str,
               prefix: str = DEFAULT_PREFIX, digits: int = 2) -> Table:
    """Rows = dataset x backbone, columns = losses, cells = one metric."""
    cells = _values(runs, metric, prefix)
    stats = {cell: summarize(*v) for cell, v in cells.items()}
    datasets = ordered((r.dataset for r in runs), DATASET_ORDER)
    backbones = ordered((r.backbone for r in runs), BACKBONE_ORDER)
    losses = ordered((r.loss for r in runs), LOSS_ORDER)
    present = {(r.dataset, r.backbone) for r in runs}
    show_n = _show_n(stats.values())
    rows, csv_rows = [], []
    for dataset in datasets:
        for backbone in backbones:
            if (dataset, backbone) not in present:
                continue
            row_stats = [stats.get((dataset, backbone, loss))
                         for loss in losses]
            rows.append([display(dataset), display(backbone)] +
                        [format_stat(s, digits, show_n) for s in row_stats])
            csv_row = [dataset, backbone]
            for s in row_stats:
                csv_row += [_num(s and s.mean), _num(s and s.std),
                            s.n if s else 0]
            csv_rows.append(csv_row)
    csv_header = ['dataset', 'backbone']
    for loss in losses:
        csv_header += [f'{loss}_mean', f'{loss}_std', f'{loss}_n']
    return Table(
        title=title,
        header=['Dataset', 'Backbone'] + [display(x) for x in losses],
        rows=rows,
        csv_header=csv_header,
        csv_rows=csv_rows,
        align=['l', 'l'] + ['r'] * len(losses))


def per_class_tables(runs: Sequence[RunResult],
                     prefix: str = DEFAULT_PREFIX,
                     digits: int = 2,
                     warn=None) -> Dict[str, Table]:
    """Per-class F1 of each dataset: rows = backbone x loss, columns =
    classes (names from ``metrics.json``, else the class indices)."""
    tables = OrderedDict()
    for dataset in ordered((r.dataset for r in runs), DATASET_ORDER):
        classes, cells = None, OrderedDict()
        for run in runs:
            f1 = metric_value(run.metrics, 'f1_classwise', prefix)
            if run.dataset != dataset or not isinstance(f1, list):
                continue
            names = run.classes or [str(i) for i in range(len(f1))]
            if classes is None:
                classes = names
            if len(f1) != len(classes) or names != classes:
                if warn:
                    warn(f'{run.path}: classes {names} differ from '
                         f'{classes} of the other {dataset} runs; left out '
                         'of the per-class table')
                continue
            entry = cells.setdefault((run.backbone, run.loss), ([], []))
            entry[0].append(f1)
            entry[1].append(run.seed)
        if not cells:
            continue
        row_keys = [(b, loss)
                    for b in ordered((k[0] for k in cells), BACKBONE_ORDER)
                    for loss in ordered((k[1] for k in cells), LOSS_ORDER)
                    if (b, loss) in cells]
        rows, csv_rows = [], []
        for backbone, loss in row_keys:
            values, seeds = cells[(backbone, loss)]
            stats = [summarize([v[i] for v in values], seeds)
                     for i in range(len(classes))]
            rows.append([display(backbone), display(loss), len(values)] +
                        [format_stat(s, digits) for s in stats])
            csv_row = [backbone, loss, len(values)]
            for s in stats:
                csv_row += [_num(s.mean), _num(s.std)]
            csv_rows.append(csv_row)
        csv_header = ['backbone', 'loss', 'n']
        for name in classes:
            csv_header += [f'{name}_mean', f'{name}_std']
        tables[dataset] = Table(
            title=f'Per-class F1, {display(dataset)}',
            header=['Backbone', 'Loss', 'n'] + list(classes),
            rows=rows,
            csv_header=csv_header,
            csv_rows=csv_rows,
            align=['l', 'l', 'r'] + ['r'] * len(classes))
    return tables


def published_table(runs: Sequence[RunResult],
                    prefix: str = DEFAULT_PREFIX,
                    digits: int = 2,
                    published=PUBLISHED) -> Table:
    """Each published number, ours for the same cell and ``ours −
    published`` (of the mean over seeds)."""
    rows, csv_rows, sources = [], [], []
    for pub in published:
        values = _values(runs, pub.metric, prefix).get(
            (pub.dataset, pub.backbone, pub.loss), ([], []))
        ours = summarize(*values)
        diff = None if ours is None else ours.mean - pub.value
        if pub.source not in sources:
            sources.append(pub.source)
        rows.append([
            display(pub.dataset), display(pub.backbone), display(pub.loss),
            pub.metric, f'{pub.value:.{digits}f}',
            format_stat(ours, digits) if ours else 'not run',
            ours.n if ours else 0,
            '' if diff is None else f'{diff:+.{digits}f}',
            f'[{sources.index(pub.source) + 1}]'
        ])
        csv_rows.append([
            pub.dataset, pub.backbone, pub.loss, pub.metric, pub.value,
            _num(ours and ours.mean), _num(ours and ours.std),
            ours.n if ours else 0, _num(diff), pub.source
        ])
    note = '\n'.join(f'[{i}] {s}' for i, s in enumerate(sources, 1))
    return Table(
        title='Published vs ours',
        header=['Dataset', 'Backbone', 'Loss', 'Metric', 'Published',
                'Ours', 'n', 'Ours − published', 'Source'],
        rows=rows,
        csv_header=['dataset', 'backbone', 'loss', 'metric', 'published',
                    'ours_mean', 'ours_std', 'n', 'difference', 'source'],
        csv_rows=csv_rows,
        align=['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'l'],
        note=note)


def runs_table(runs: Sequence[RunResult]) -> Table:
    """One row per run with every scalar metric (CSV only)."""
    keys = list(OrderedDict.fromkeys(
        k for r in runs for k, v in r.metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)))
    header = ['config_stem', 'seed', 'dataset', 'backbone', 'loss'] + keys
    rows = [[r.config_stem, r.seed, r.dataset, r.backbone, r.loss] +
            [r.metrics.get(k, '') for k in keys] + [r.path] for r in runs]
    return Table('Runs', header, [], header + ['metrics_json'], rows)


def make_report(runs: Sequence[RunResult], out_dir: str,
                prefix: str = DEFAULT_PREFIX, digits: int = 2,
                sources: Sequence[str] = (),
                warn=None) -> Tuple[str, List[str]]:
    """Write every table to ``out_dir``; returns ``(Markdown, files)``.

    Files: ``results.md`` (all tables), ``<metric>.csv`` per paper-layout
    table, ``per_class_f1_<dataset>.csv``, ``published_vs_ours.csv`` and
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
        '. Test split, checkpoint chosen by validation macro F1 (see each '
        "run's metrics.json). Cells: mean ± sample standard deviation "
        f'(ddof=1) over seeds, in percent; "± {DASH}": a single seed; '
        '"(n=k)": number of seeds, shown when the cells of a table differ '
        'in their seeds.'
    ]
    for metric, title in MAIN_METRICS:
        table = main_table(runs, metric, title, prefix, digits)
        if not any(c != '' for row in table.rows for c in row[2:]):
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
    save(runs_table(runs), 'runs.csv')
    markdown = '\n'.join(parts) + '\n'
    path = osp.join(out_dir, 'results.md')
    with open(path, 'w') as f:
        f.write(markdown)
    written.insert(0, path)
    return markdown, written
