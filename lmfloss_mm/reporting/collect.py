"""Collect finished runs: the ``metrics.json`` files under work roots.

Nothing else is read (no checkpoint, no log, no prediction), so tables can
be made anywhere the ``metrics.json`` files were copied to.
"""
import glob
import json
import os.path as osp
import sys
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterable, List, Optional

from .layout import METRICS_FILE
from .spec import parse_config_name

#: Prefix of the ``ImbalancedClsMetric`` keys.
DEFAULT_PREFIX = 'imbalanced'


def _warn(message: str) -> None:
    print(f'WARNING: {message}', file=sys.stderr)


@dataclass(frozen=True)
class RunResult:
    """One finished run as ``metrics.json`` describes it."""
    path: str
    config_stem: str
    seed: int
    dataset: str
    backbone: str
    loss: str
    classes: Optional[List[str]]
    metrics: Dict

    @property
    def cell(self):
        """``(dataset, backbone, loss)``: the table cell of the run."""
        return self.dataset, self.backbone, self.loss


def metric_value(metrics: Dict, name: str, prefix: str = DEFAULT_PREFIX):
    """``metrics['<prefix>/<name>']``, else ``metrics[name]``, else
    ``None``."""
    for key in (f'{prefix}/{name}' if prefix else name, name):
        if key in metrics:
            return metrics[key]
    return None


def find_metrics_files(work_roots: Iterable[str]) -> List[str]:
    """Every ``metrics.json`` below the work roots, sorted."""
    found = []
    for root in work_roots:
        if osp.isfile(root) and osp.basename(root) == METRICS_FILE:
            found.append(root)
        else:
            found.extend(glob.glob(osp.join(root, '**', METRICS_FILE),
                                   recursive=True))
    return sorted(dict.fromkeys(found))


def load_run(path: str) -> RunResult:
    """Read one ``metrics.json``. Labels missing from old files are taken
    from the config name. Raises ``ValueError`` for a file that is not a
    run record."""
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get('metrics'),
                                                    dict):
        raise ValueError(f'{path}: no "metrics" object')
    stem = data.get('config_stem') or osp.splitext(
        osp.basename(data.get('config') or ''))[0]
    if not stem or 'seed' not in data:
        raise ValueError(f'{path}: no "config_stem" / "seed"')
    fields = parse_config_name(stem) or {}
    labels = {
        key: data.get(key) or fields.get(key) or (
            stem if key == 'loss' else 'unknown')
        for key in ('dataset', 'backbone', 'loss')
    }
    classes = data.get('classes')
    return RunResult(
        path=path,
        config_stem=stem,
        seed=int(data['seed']),
        classes=[str(c) for c in classes] if classes else None,
        metrics=data['metrics'],
        **labels)


def disambiguate(runs: List[RunResult],
                 warn: Callable[[str], None] = _warn) -> List[RunResult]:
    """Give runs of *different* configs that share a table cell distinct
    loss labels (``'<loss> [<config-stem>]'``), so that they are never
    averaged together as if they were seeds of one config."""
    stems = {}
    for run in runs:
        stems.setdefault(run.cell, set()).add(run.config_stem)
    clashes = {cell for cell, names in stems.items() if len(names) > 1}
    for cell in sorted(clashes):
        warn(f'configs {sorted(stems[cell])} all map to dataset={cell[0]} '
             f'backbone={cell[1]} loss={cell[2]}; they get separate columns '
             'named after the config')
    return [
        replace(run, loss=f'{run.loss} [{run.config_stem}]')
        if run.cell in clashes else run for run in runs
    ]


def load_runs(work_roots: Iterable[str],
              warn: Callable[[str], None] = _warn) -> List[RunResult]:
    """Every readable run under the work roots, one per (config, seed)
    (the first found wins; duplicates and unreadable files are warned
    about), with clashing labels separated (:func:`disambiguate`)."""
    runs, seen = [], {}
    for path in find_metrics_files(work_roots):
        try:
            run = load_run(path)
        except (OSError, ValueError) as exc:
            warn(f'skipping {path}: {exc}')
            continue
        key = (run.config_stem, run.seed)
        if key in seen:
            warn(f'{path} repeats {run.config_stem} seed={run.seed} of '
                 f'{seen[key]}; ignored')
            continue
        seen[key] = path
        runs.append(run)
    return disambiguate(runs, warn)
