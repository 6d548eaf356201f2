"""Find and read every run below one or more folders.

What counts as a run (a folder is read as the first that applies, and
nothing below it is searched further):

1. a folder with ``metrics.json``: a grid run or a cross-validation fold
   (any version of :class:`~.record.RunRecord`);
2. a folder with ``result.json``: a cross-validation fold stored by the
   first version of ``tools/benchmark_isic2018_cv.py``;
3. a folder with an MMEngine test log (``<ts>/<ts>.json``): a plain
   ``mim train`` / ``mim test`` work folder (:mod:`.work_dir`).

A ``runs.jsonl`` (one record per line, the export of a cross-validation
work root) is read only when no run folder lies below its own folder, so
that a copied export alone is enough and a full work root is not counted
twice.  Nothing else is read: no checkpoint, no image.
"""
import json
import os
import os.path as osp
import sys
from dataclasses import replace
from functools import partial
from typing import Callable, Iterable, List, Optional

from .record import RECORD_FILE, RunRecord
from .work_dir import PREDICTIONS_FILE, is_work_dir, read_work_dir

__all__ = ['LEGACY_RECORD_FILE', 'EXPORT_FILE', 'load_runs', 'read_record',
           'read_export', 'disambiguate']

#: Record file of the first cross-validation version.
LEGACY_RECORD_FILE = 'result.json'
#: One record per line; written next to a cross-validation report.
EXPORT_FILE = 'runs.jsonl'

Warn = Callable[[str], None]


def _warn(message: str) -> None:
    print(f'WARNING: {message}', file=sys.stderr)


def read_record(path: str) -> RunRecord:
    """One stored record file (``metrics.json`` or ``result.json``).

    Raises:
        OSError: The file cannot be read.
        ValueError: It is no JSON or no run record.
    """
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    record = RunRecord.from_dict(data, path)
    return replace(record, predictions=_find_predictions(
        record.predictions, osp.dirname(path)))


def _find_predictions(stored: Optional[str], folder: str) -> Optional[str]:
    """The predictions of a run stored in ``folder``: the stored path if it
    exists, else a file of that name (default ``predictions.pkl``) next to
    the record (a work root copied elsewhere); None when there is none."""
    name = osp.basename(stored) if stored else PREDICTIONS_FILE
    for candidate in (stored, osp.join(folder, name)):
        if candidate and osp.isfile(candidate):
            return candidate
    return None


def read_export(path: str) -> List[RunRecord]:
    """The records of a ``runs.jsonl`` file."""
    records = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                records.append(RunRecord.from_dict(
                    json.loads(line), f'{path}:{number}'))
    return records


def _run_reader(folder: str, files: List[str]
                ) -> Optional[Callable[[], RunRecord]]:
    """How to read the run ``folder`` holds; None when it holds none."""
    for name in (RECORD_FILE, LEGACY_RECORD_FILE):
        if name in files:
            return partial(read_record, osp.join(folder, name))
    if is_work_dir(folder):
        return partial(read_work_dir, folder)
    return None


def _looks_unfinished(files: List[str]) -> bool:
    """Whether a folder without results holds training outputs."""
    return any(name.endswith('.pth') or name in ('last_checkpoint',
                                                 'train.log')
               for name in files)


def _scan(root: str, warn: Warn) -> List[RunRecord]:
    """The runs below one folder (or the one record file given)."""
    if osp.isfile(root):
        if root.endswith('.jsonl'):
            return read_export(root)
        return [read_record(root)]
    if not osp.isdir(root):
        raise FileNotFoundError(f'{root}: no such folder')
    runs, exports = [], []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        reader = _run_reader(folder, files)
        if reader is None:
            if EXPORT_FILE in files:
                exports.append(folder)
            if _looks_unfinished(files):
                warn(f'skipping {folder}: no test results yet (training '
                     'unfinished, or the checkpoint not tested)')
            continue
        subfolders[:] = []  # a run folder's sub-folders are part of it
        try:
            runs.append(reader())
        except (OSError, ValueError) as exc:
            warn(f'skipping {folder}: {exc}')
    for folder in exports:
        inside = folder.rstrip(os.sep) + os.sep
        if any(run.path.startswith(inside) for run in runs):
            continue
        try:
            runs.extend(read_export(osp.join(folder, EXPORT_FILE)))
        except (OSError, ValueError) as exc:
            warn(f'skipping {osp.join(folder, EXPORT_FILE)}: {exc}')
    return runs


def disambiguate(runs: List[RunRecord], warn: Warn = _warn
                 ) -> List[RunRecord]:
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


def load_runs(roots: Iterable[str], warn: Warn = _warn) -> List[RunRecord]:
    """Every run below ``roots`` (folders, record files or ``runs.jsonl``
    files), in the order found.

    A run repeated under the same ``(config, seed, fold)`` is kept once
    (the first found wins) and unreadable ones are skipped, each with a
    warning; clashing labels are separated (:func:`disambiguate`).  Runs
    whose seed is unknown are never taken for repeats.

    Raises:
        FileNotFoundError: A root does not exist.
    """
    runs, seen = [], {}
    for root in roots:
        for run in _scan(root, warn):
            key = (run.config_stem, run.seed, run.fold)
            if run.seed is not None and key in seen:
                warn(f'{run.path} repeats {run.name} of {seen[key]}; '
                     'ignored')
                continue
            seen[key] = run.path
            runs.append(run)
    return disambiguate(runs, warn)
