"""Per-class statistics of a config's datasets and what the losses make of
them (used by ``tools/dataset_stats.py``).

Two layers:

* :func:`compute_class_stats` turns per-split class counts into a
  :class:`ClassStats` (shares, imbalance ratio, LDAM margins, class-weight
  schemes, shot groups); it needs no dataset and no image.
* :func:`collect_config_counts` builds the train/val/test datasets of a
  config with empty pipelines and counts their ``gt_label`` values, reading
  annotations only.

Formatting: :func:`format_table` (aligned Markdown, also what is printed),
:func:`write_csv`, :func:`write_markdown`.
"""
import copy
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from lmfloss_mm.datasets.labels import count_labels, dataset_classes
from lmfloss_mm.datasets.splits import SPLIT_NAMES
from lmfloss_mm.evaluation.functional import SHOT_THRESHOLDS, shot_groups
from lmfloss_mm.fileio import write_text_atomic
from lmfloss_mm.models.losses import class_weights_from_counts, ldam_margins
from lmfloss_mm.results.tables import Table, markdown_table, numeric_align
#: ``max_m`` of the official LMF code, used when neither the command line
#: nor the config's loss gives one.
DEFAULT_MAX_M = 0.5


def imbalance_ratio(counts: Sequence[int]) -> float:
    """``max / min`` of the counts (``inf`` when a class has no sample)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.size == 0:
        return float('nan')
    if counts.min() == 0:
        return float('inf')
    return float(counts.max() / counts.min())


@dataclass
class ClassStats:
    """Per-class statistics of the splits of one dataset.

    Attributes:
        classes (list[str]): Class names, in class-index order.
        splits (list[str]): Splits present, a subset of ``SPLIT_NAMES`` in
            that order; always contains ``'train'``.
        counts (dict[str, np.ndarray]): ``(C,)`` int64 samples per class of
            each split (positive labels for multi-label data).
        num_samples (dict[str, int]): Samples (images) per split.
        max_m (float): Largest LDAM margin used for ``margins`` and the
            ``'margins'`` weights.
        max_m_source (str): Where ``max_m`` comes from (for the report).
        thresholds (tuple[int, int]): ``(many, few)`` shot thresholds.
        multi_label (bool): Whether the labels are multi-label.
        margins (np.ndarray | None): ``(C,)`` LDAM margins
            ``max_m * (n_min / n_j) ** (1/4)`` of the training counts, None
            when a class has no training sample (the losses refuse that).
        weights_margins (np.ndarray | None): ``class_weight='margins'``.
        weights_bwcce (np.ndarray | None): ``class_weight='bwcce'``.
        groups (list[str]): Shot group of each class from its training count.
        loss_info (dict): The config's loss (``type``, ``max_m``,
            ``class_weight``), empty when unknown.
        notes (list[str]): Warnings to show with the table.
    """
    classes: List[str]
    splits: List[str]
    counts: Dict[str, np.ndarray]
    num_samples: Dict[str, int]
    max_m: float
    max_m_source: str = 'default'
    thresholds: Tuple[int, int] = SHOT_THRESHOLDS
    multi_label: bool = False
    margins: Optional[np.ndarray] = None
    weights_margins: Optional[np.ndarray] = None
    weights_bwcce: Optional[np.ndarray] = None
    groups: List[str] = field(default_factory=list)
    loss_info: dict = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def train_counts(self) -> np.ndarray:
        return self.counts['train']

    def shares(self, split: str) -> np.ndarray:
        """Fraction of the split's labels that belong to each class."""
        counts = self.counts[split].astype(np.float64)
        total = counts.sum()
        return counts / total if total else np.zeros_like(counts)

    def imbalance_ratio(self, split: str = 'train') -> float:
        """``max / min`` class count of a split."""
        return imbalance_ratio(self.counts[split])


def compute_class_stats(counts: Mapping[str, Sequence[int]],
                        classes: Optional[Sequence[str]] = None,
                        max_m: float = DEFAULT_MAX_M,
                        thresholds: Tuple[int, int] = SHOT_THRESHOLDS,
                        num_samples: Optional[Mapping[str, int]] = None,
                        multi_label: bool = False,
                        max_m_source: str = 'default',
                        loss_info: Optional[dict] = None) -> ClassStats:
    """Statistics of per-split class counts.

    Margins and class weights are computed with the losses' own functions
    (:func:`lmfloss_mm.models.losses.ldam_margins` and
    :func:`~lmfloss_mm.models.losses.class_weights_from_counts`) from the
    training counts, so they are exactly what the losses use.

    Args:
        counts (Mapping[str, Sequence[int]]): Split name -> samples per
            class; must contain ``'train'``.
        classes (Sequence[str], optional): Class names; default ``'0'``,
            ``'1'``, ...
        max_m (float): Largest LDAM margin. Defaults to 0.5.
        thresholds (tuple[int, int]): ``(many, few)`` shot thresholds.
            Defaults to ``(100, 20)``.
        num_samples (Mapping[str, int], optional): Samples per split;
            defaults to the sum of the counts (right for single-label data).
        multi_label (bool): Whether the counts are multi-label positives.
        max_m_source (str): Where ``max_m`` comes from, for the report.
        loss_info (dict, optional): The config's loss, for the report.

    Returns:
        ClassStats: The statistics.
    """
    if 'train' not in counts:
        raise ValueError('compute_class_stats needs the training counts '
                         "(counts['train']): margins, class weights and shot "
                         'groups are computed from them.')
    if max_m <= 0:
        raise ValueError(f'max_m must be > 0, got {max_m}')
    many, few = thresholds
    if many < few:
        raise ValueError(f'thresholds must be (many, few) with many >= few, '
                         f'got {tuple(thresholds)}')
    splits = [s for s in SPLIT_NAMES if s in counts]
    splits += [s for s in counts if s not in splits]
    arrays = {}
    for split in splits:
        array = np.asarray(counts[split])
        if array.ndim != 1 or np.any(array < 0):
            raise ValueError(f'counts[{split!r}] must be a 1-D list of '
                             f'non-negative integers, got {counts[split]!r}')
        arrays[split] = array.astype(np.int64)
    num_classes = arrays['train'].size
    for split, array in arrays.items():
        if array.size != num_classes:
            raise ValueError(
                f'The {split} split has {array.size} classes but the train '
                f'split has {num_classes}.')
    classes = [str(i) for i in range(num_classes)] if classes is None else [
        str(c) for c in classes
    ]
    if len(classes) != num_classes:
        raise ValueError(f'{len(classes)} class names for {num_classes} '
                         'counted classes')
    stats = ClassStats(
        classes=classes,
        splits=splits,
        counts=arrays,
        num_samples={
            s: int(num_samples[s]) if num_samples and s in num_samples else
            int(arrays[s].sum())
            for s in splits
        },
        max_m=float(max_m),
        max_m_source=max_m_source,
        thresholds=(int(many), int(few)),
        multi_label=multi_label,
        groups=shot_groups(arrays['train'], thresholds).tolist(),
        loss_info=dict(loss_info or {}))
    train = arrays['train']
    empty = [classes[i] for i in np.flatnonzero(train == 0)]
    if empty:
        stats.notes.append(
            f'classes {empty} have no training sample: the LDAM margins and '
            'count-based class weights are undefined and the losses will '
            'refuse these counts.')
    else:
        tensor = torch.as_tensor(train, dtype=torch.float64)
        stats.margins = ldam_margins(tensor, max_m).double().numpy()
        stats.weights_margins = class_weights_from_counts(
            'margins', tensor, max_m).double().numpy()
        if num_classes >= 2:
            stats.weights_bwcce = class_weights_from_counts(
                'bwcce', tensor).double().numpy()
    for split in splits[1:]:
        missing = [classes[i] for i in np.flatnonzero(arrays[split] == 0)]
        if missing:
            stats.notes.append(f'the {split} split has no sample of '
                               f'{missing}: their recall/F1 is undefined.')
    if multi_label:
        stats.notes.append(
            'multi-label annotations: counts are positive labels, shares are '
            "of the split's positive labels; the single-label losses cannot "
            'train on this dataset as configured.')
    return stats


# --------------------------------------------------------------- formatting
def _fmt_ratio(value: float) -> str:
    if math.isinf(value):
        return 'inf'
    if math.isnan(value):
        return 'n/a'
    return f'{value:.2f}'


def _fmt_opt(values: Optional[np.ndarray], index: int,
             digits: int = 4) -> str:
    return 'n/a' if values is None else f'{values[index]:.{digits}f}'


def table_header(stats: ClassStats) -> List[str]:
    """Column names of :func:`table_rows`."""
    header = ['class']
    for split in stats.splits:
        header += [split, f'{split} %']
    header += ['n_max/n', 'group', 'LDAM margin', "w 'margins'", "w 'bwcce'"]
    return header


def table_rows(stats: ClassStats) -> List[List[str]]:
    """Formatted rows of the per-class table, then a ``total`` row."""
    rows = []
    train = stats.train_counts
    for i, name in enumerate(stats.classes):
        row = [name]
        for split in stats.splits:
            row += [str(int(stats.counts[split][i])),
                    f'{100 * stats.shares(split)[i]:.1f}']
        ratio = train.max() / train[i] if train[i] else float('inf')
        row += [_fmt_ratio(ratio), stats.groups[i],
                _fmt_opt(stats.margins, i), _fmt_opt(stats.weights_margins, i),
                _fmt_opt(stats.weights_bwcce, i)]
        rows.append(row)
    total = ['images' if stats.multi_label else 'total']
    for split in stats.splits:
        total += [str(stats.num_samples[split]), '100.0']
    total += [''] * 5
    rows.append(total)
    return rows


def _aligned_markdown(header: Sequence[str],
                      rows: Sequence[Sequence[str]]) -> str:
    return markdown_table(header, rows, numeric_align(rows), padded=True)


def summary_lines(stats: ClassStats) -> List[str]:
    """Dataset-level lines printed under the table."""
    lines = []
    ratios = ', '.join(f'{s} {_fmt_ratio(stats.imbalance_ratio(s))}'
                       for s in stats.splits)
    lines.append(f'Imbalance ratio (max/min class count): {ratios}')
    many, few = stats.thresholds
    members = {g: [c for c, cg in zip(stats.classes, stats.groups) if cg == g]
               for g in ('many', 'medium', 'few')}
    lines.append(
        f'Shot groups by training count (many > {many} >= medium >= {few} > '
        'few): ' + '; '.join(f'{g} {len(m)} ({", ".join(m) or "-"})'
                             for g, m in members.items()))
    loss = stats.loss_info
    loss_text = ''
    if loss.get('type'):
        loss_text = f"; config loss {loss['type']}"
        if 'class_weight' in loss:
            loss_text += f", class_weight={loss['class_weight']!r}"
    lines.append(f'LDAM margins max_m * (n_min / n_j) ** 0.25 with max_m = '
                 f'{stats.max_m:g} ({stats.max_m_source}){loss_text}')
    lines.append("Class weights: 'margins' = the margin vector (official LMF)"
                 "; 'bwcce' = (1 - n_j / N) / (C - 1)")
    lines += [f'Note: {n}' for n in stats.notes]
    return lines


def format_table(stats: ClassStats) -> str:
    """The per-class table (aligned Markdown) followed by the summary."""
    return _aligned_markdown(table_header(stats), table_rows(stats)) + \
        '\n\n' + '\n'.join(summary_lines(stats))


def csv_rows(stats: ClassStats) -> Tuple[List[str], List[list]]:
    """Header and rows of ``class_stats.csv`` (full precision, one row per
    class)."""
    header = ['class_index', 'class']
    for split in stats.splits:
        header += [f'{split}_count', f'{split}_share']
    header += ['imbalance_to_max', 'shot_group', 'ldam_margin',
               'weight_margins', 'weight_bwcce']
    train = stats.train_counts
    rows = []
    for i, name in enumerate(stats.classes):
        row = [i, name]
        for split in stats.splits:
            row += [int(stats.counts[split][i]),
                    repr(float(stats.shares(split)[i]))]
        ratio = train.max() / train[i] if train[i] else float('inf')
        row.append(repr(float(ratio)))
        row.append(stats.groups[i])
        for values in (stats.margins, stats.weights_margins,
                       stats.weights_bwcce):
            row.append('' if values is None else repr(float(values[i])))
        rows.append(row)
    return header, rows


def write_csv(stats: ClassStats, path: str) -> None:
    """Write one row per class with full-precision numbers."""
    header, rows = csv_rows(stats)
    Table('Class statistics', header, rows).write_csv(path)


def write_markdown(stats: ClassStats, path: str, title: str = '') -> None:
    """Write the table and the summary as a Markdown document."""
    parts = [f'# {title}\n'] if title else []
    parts.append(_aligned_markdown(table_header(stats), table_rows(stats)))
    parts.append('\n'.join(f'- {line}' for line in summary_lines(stats)))
    write_text_atomic(path, '\n\n'.join(parts) + '\n')


# ----------------------------------------------------------------- datasets
def _strip_pipelines(cfg):
    """A copy of a dataset config with every ``pipeline`` emptied (also in
    dataset wrappers), so that building it imports no transform and no
    image is read."""
    if isinstance(cfg, Mapping):
        return {
            k: ([] if k == 'pipeline' else _strip_pipelines(v))
            for k, v in cfg.items()
        }
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_strip_pipelines(v) for v in cfg)
    return copy.deepcopy(cfg)


def split_dataset_cfgs(cfg, splits: Sequence[str] = SPLIT_NAMES
                       ) -> Dict[str, Optional[dict]]:
    """``<split>_dataloader.dataset`` of a config for each split (None when
    the config has no such dataloader)."""
    out = {}
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        dataset = loader.get('dataset') if loader else None
        out[split] = None if dataset is None else dataset
    return out


def build_dataset(dataset_cfg):
    """Build a dataset from its config without pipelines (annotations only).
    """
    from mmpretrain.registry import DATASETS
    return DATASETS.build(_strip_pipelines(dataset_cfg))


def config_loss_info(cfg) -> dict:
    """``type``, ``max_m`` and ``class_weight`` of ``model.head.loss`` (the
    first loss of a list), or ``{}``."""
    model = cfg.get('model') or {}
    head = model.get('head') or {}
    loss = head.get('loss')
    if isinstance(loss, (list, tuple)):
        loss = next((item for item in loss
                     if isinstance(item, Mapping) and 'max_m' in item),
                    loss[0] if loss else None)
    if not isinstance(loss, Mapping):
        return {}
    info = {'type': loss.get('type')}
    for key in ('max_m', 'class_weight'):
        if key in loss:
            info[key] = loss[key]
    return info


def collect_config_counts(cfg, splits: Sequence[str] = SPLIT_NAMES,
                          logger=print) -> dict:
    """Build the config's datasets of ``splits`` (always ``train``) and
    count their labels.

    Args:
        cfg (mmengine.Config): The config.
        splits (Sequence[str]): Splits to report. ``'train'`` is always
            counted, because margins and weights derive from it.
        logger (callable): Receives one-line messages (skipped splits).

    Returns:
        dict: ``counts`` (split -> (C,) int64), ``num_samples``,
        ``classes``, ``multi_label``, ``datasets`` (split -> dataset).
    """
    wanted = ['train'] + [s for s in splits if s != 'train']
    dataset_cfgs = split_dataset_cfgs(cfg, wanted)
    if dataset_cfgs['train'] is None:
        raise ValueError('The config has no train_dataloader.dataset: the '
                         'margins and class weights need the training counts.')
    datasets = {}
    for split in wanted:
        if dataset_cfgs[split] is None:
            logger(f'{split}: the config has no {split}_dataloader.dataset, '
                   'skipped.')
            continue
        datasets[split] = build_dataset(dataset_cfgs[split])
    classes = dataset_classes(datasets['train'])
    if classes is None:
        head = (cfg.get('model') or {}).get('head') or {}
        num_classes = head.get('num_classes') or cfg.get('num_classes')
        if not num_classes:
            raise ValueError('Cannot tell the number of classes: the training '
                             "dataset has no metainfo['classes'] and the "
                             'config no model.head.num_classes.')
        classes = [str(i) for i in range(int(num_classes))]
    counts, num_samples, multi_label = {}, {}, False
    for split, dataset in datasets.items():
        split_classes = dataset_classes(dataset)
        if split_classes is not None and list(split_classes) != list(classes):
            raise ValueError(f'The {split} dataset has classes '
                             f'{split_classes}, the train dataset {classes}.')
        counts[split], num_samples[split], ml = count_labels(
            dataset, len(classes))
        multi_label = multi_label or ml
    return dict(counts=counts, num_samples=num_samples, classes=classes,
                multi_label=multi_label, datasets=datasets)


def default_out_dir(config_path: str) -> str:
    """``work_dirs/dataset_stats/<config stem>``."""
    stem = osp.splitext(osp.basename(config_path))[0]
    return osp.join('work_dirs', 'dataset_stats', stem)
