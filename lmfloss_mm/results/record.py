"""The run record: one trained-and-tested model, the unit every table,
figure and report is made of.

A grid run (``tools/run_grid.py``), a cross-validation fold
(``tools/benchmark_isic2018_cv.py``), a demo run and a plain ``mim train`` /
``mim test`` work folder all become a :class:`RunRecord`.  Grid runs and
cross-validation folds store theirs as ``metrics.json`` in their run folder
(:meth:`RunRecord.to_dict`, :data:`SCHEMA_VERSION` 2); older files are
converted on reading (:meth:`RunRecord.from_dict`).
"""
import math
import os.path as osp
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .labels import config_stem, parse_config_name

__all__ = ['RunRecord', 'SCHEMA_VERSION', 'RECORD_FILE', 'DEFAULT_PREFIX',
           'metric_value', 'AmbiguousMetricError']

#: Version of the stored record (1: grid runs before folds were records).
SCHEMA_VERSION = 2
#: File name of a stored record.
RECORD_FILE = 'metrics.json'
#: Prefix of the ``ImbalancedClsMetric`` keys.
DEFAULT_PREFIX = 'imbalanced'

#: Fields of the stored record that are attributes of :class:`RunRecord`;
#: every other key goes to :attr:`RunRecord.info`.
_FIELDS = ('config', 'config_stem', 'seed', 'fold', 'dataset', 'backbone',
           'loss', 'classes', 'metrics', 'predictions')
#: Metric keys of the first cross-validation records (``result.json``),
#: stored without prefix next to the other fields.
_FLAT_METRIC_KEYS = (
    'accuracy', 'balanced_accuracy', 'macro_f1', 'macro_recall',
    'macro_precision', 'weighted_f1', 'auc_macro', 'ece', 'f1_classwise',
    'recall_classwise', 'precision_classwise', 'support_classwise',
    'confusion_matrix')
#: Settings of those records, now kept together under ``settings``.
_FLAT_SETTING_KEYS = ('preset', 'arch', 'img_size', 'epochs', 'n_folds',
                      'val_ratio', 'split_seed', 'cfg_options',
                      'resize_cache')
#: Dataset label of the cross-validation folds.
CV_DATASET = 'isic2018-cv'


class AmbiguousMetricError(KeyError):
    """A metric name that several differently prefixed keys end with."""


def metric_value(metrics: Mapping[str, Any], name: str,
                 prefix: str = DEFAULT_PREFIX):
    """The value of metric ``name`` in a dict of MMEngine metric keys.

    The one lookup rule of the project: ``'<prefix>/<name>'``, else
    ``'<name>'``, else the single key ending with ``'/<name>'``; ``None``
    when there is none.

    Raises:
        AmbiguousMetricError: Several keys with different prefixes end with
            ``'/<name>'`` and none has ``prefix``; pass the right prefix.
    """
    for key in ((f'{prefix}/{name}' if prefix else name), name):
        if key in metrics:
            return metrics[key]
    matches = [k for k in metrics if k.endswith('/' + name)]
    if len(matches) > 1:
        raise AmbiguousMetricError(
            f'metric {name!r} is ambiguous: {sorted(matches)}; choose one '
            f'with the prefix (e.g. --prefix {matches[0].rsplit("/", 1)[0]})')
    return metrics[matches[0]] if matches else None


@dataclass(frozen=True)
class RunRecord:
    """One trained-and-tested model.

    Attributes:
        path (str): Where the record was read from (a file or a folder).
        config (str): The config file the run was made with (``''`` when
            unknown).
        config_stem (str): Its file name without ``.py``; groups the seeds
            and folds of one configuration.
        seed (int, optional): Training seed (None when unknown).
        fold (int, optional): Cross-validation fold (None for a run on a
            fixed split).
        dataset (str): Dataset label (see :mod:`.labels`).
        backbone (str): Backbone label.
        loss (str): Loss label.
        classes (list[str], optional): Class names in index order.
        metrics (dict): Test metrics with their MMEngine keys
            (``'imbalanced/macro_f1'``; rates in percent, lists for the
            per-class values and the confusion matrix).
        predictions (str, optional): Path of the test predictions
            (``predictions.pkl`` of ``test.py --out``), None when not kept.
        info (dict): Everything else the run stored (times, checkpoint,
            settings, environment).
    """
    path: str
    config: str
    config_stem: str
    seed: Optional[int]
    fold: Optional[int]
    dataset: str
    backbone: str
    loss: str
    classes: Optional[List[str]]
    metrics: Dict[str, Any]
    predictions: Optional[str] = None
    info: Dict[str, Any] = field(default_factory=dict)

    @property
    def cell(self) -> Tuple[str, str, str]:
        """``(dataset, backbone, loss)``: where the run goes in a table."""
        return self.dataset, self.backbone, self.loss

    @property
    def name(self) -> str:
        """``<config-stem>/seed-<s>[/fold-<k>]``, for messages."""
        name = f'{self.config_stem}/seed-{self.seed}'
        return name if self.fold is None else f'{name}/fold-{self.fold}'

    @property
    def pair_key(self) -> Tuple[Optional[int], Optional[int]]:
        """``(fold, seed)``: runs of two losses with the same key trained
        on the same data from the same seed."""
        return self.fold, self.seed

    @property
    def seconds(self) -> Optional[float]:
        """Wall time of training and testing, when the run stored it."""
        if self.info.get('seconds') is not None:
            return float(self.info['seconds'])
        parts = [self.info.get(k) for k in ('train_seconds', 'test_seconds')]
        parts = [float(p) for p in parts if p is not None]
        return sum(parts) if parts else None

    def metric(self, name: str, prefix: str = DEFAULT_PREFIX):
        """:func:`metric_value` of this run's metrics."""
        return metric_value(self.metrics, name, prefix)

    def scalar(self, name: str, prefix: str = DEFAULT_PREFIX
               ) -> Optional[float]:
        """A numeric, finite metric as a float, else None."""
        value = self.metric(name, prefix)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value) if math.isfinite(value) else None

    def with_labels(self, **labels) -> 'RunRecord':
        """A copy with other ``dataset`` / ``backbone`` / ``loss``."""
        return replace(self, **labels)

    def to_dict(self) -> Dict[str, Any]:
        """The stored form (``metrics.json``), :data:`SCHEMA_VERSION`."""
        data = {key: getattr(self, key) for key in _FIELDS}
        data.update(self.info)
        data['schema_version'] = SCHEMA_VERSION
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str) -> 'RunRecord':
        """Read a stored record of any version.

        Understands :data:`SCHEMA_VERSION` 2, the grid's version 1 (no
        ``fold``) and the first cross-validation records (``result.json``:
        metrics and settings as top-level keys, ``time_s``). Labels missing
        from a file are taken from its config name.

        Raises:
            ValueError: ``data`` is not a run record; the message names
                ``path`` and what is missing.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f'{path}: not a JSON object')
        data = dict(data)
        if not isinstance(data.get('metrics'), Mapping):
            if 'macro_f1' not in data or 'loss' not in data:
                raise ValueError(f'{path}: no "metrics" object')
            data = _from_flat_cv_record(data)
        stem = data.get('config_stem') or config_stem(data.get('config')
                                                      or '')
        if not stem:
            raise ValueError(f'{path}: no "config" or "config_stem"')
        fields = parse_config_name(stem) or {}
        labels = {
            key: str(data.get(key) or fields.get(key)
                     or (stem if key == 'loss' else 'unknown'))
            for key in ('dataset', 'backbone', 'loss')
        }
        classes = data.get('classes')
        info = {k: v for k, v in data.items()
                if k not in _FIELDS and k != 'schema_version'}
        return cls(
            path=path,
            config=str(data.get('config') or ''),
            config_stem=stem,
            seed=_optional_int(data.get('seed')),
            fold=_optional_int(data.get('fold')),
            classes=[str(c) for c in classes] if classes else None,
            metrics=dict(data['metrics']),
            predictions=data.get('predictions') or None,
            info=info,
            **labels)


def _optional_int(value) -> Optional[int]:
    return None if value is None else int(value)


def _from_flat_cv_record(data: Dict[str, Any]) -> Dict[str, Any]:
    """A first-version cross-validation record in the current layout."""
    metrics = {f'{DEFAULT_PREFIX}/{key}': data.pop(key)
               for key in _FLAT_METRIC_KEYS if key in data}
    settings = {key: data.pop(key) for key in _FLAT_SETTING_KEYS
                if key in data}
    settings.setdefault('cfg_options', {})
    stem = config_stem(data.get('config') or '')
    fields = parse_config_name(stem) or {}
    data.update(
        metrics=metrics,
        settings=settings,
        config_stem=stem,
        dataset=CV_DATASET,
        backbone=fields.get('backbone') or settings.get('arch', 'unknown'))
    if 'time_s' in data:
        data['seconds'] = data.pop('time_s')
    return data


def record_path(run_dir: str) -> str:
    """Where a run folder keeps its record."""
    return osp.join(run_dir, RECORD_FILE)
