"""What a run folder ``<work-root>/<config-stem>/seed-<s>/`` holds.

::

    seed-<s>/
        <timestamp>/               MMEngine's training logs (one per attempt)
        epoch_<n>.pth, last_checkpoint
        best_imbalanced_macro_f1_epoch_<n>.pth
        train.log                  stdout/stderr of every training attempt
        train_done.json            training finished (its wall time)
        test/<timestamp>/<timestamp>.json   MMEngine's test log (the metrics)
        test.log                   stdout/stderr of the test attempts
        grid.log                   output of the run's worker process
                                   (parallel grids only)
        predictions.pkl            per-sample predictions (test.py --out)
        metrics.json               the run record, written last

A run is *done* once ``metrics.json`` exists; everything else is an
unfinished run that the grid runner restarts from where it stopped.
"""
import os
import os.path as osp
import shutil
from typing import List, Optional

from lmfloss_mm.fileio import partial_path
from lmfloss_mm.results.record import RECORD_FILE
from lmfloss_mm.results.work_dir import PREDICTIONS_FILE
from lmfloss_mm.runner.work_dir import last_checkpoint

__all__ = ['RECORD_FILE', 'PREDICTIONS_FILE', 'TRAIN_DONE_FILE', 'TRAIN_LOG',
           'TEST_LOG', 'WORKER_LOG', 'TEST_DIR', 'NEW', 'RESUME', 'TEST',
           'DONE', 'run_state', 'clear_test_outputs', 'checkpoint_classes']

TRAIN_DONE_FILE = 'train_done.json'
TRAIN_LOG = 'train.log'
TEST_LOG = 'test.log'
WORKER_LOG = 'grid.log'
TEST_DIR = 'test'

#: Run states, in the order a run goes through them.
NEW, RESUME, TEST, DONE = 'new', 'resume', 'test', 'done'


def run_state(run_dir: str) -> str:
    """:data:`DONE` (``metrics.json`` exists), :data:`TEST` (training
    finished, test missing), :data:`RESUME` (a checkpoint to resume from)
    or :data:`NEW`."""
    if osp.isfile(osp.join(run_dir, RECORD_FILE)):
        return DONE
    if osp.isfile(osp.join(run_dir, TRAIN_DONE_FILE)):
        return TEST
    if last_checkpoint(run_dir):
        return RESUME
    return NEW


def clear_test_outputs(run_dir: str) -> None:
    """Remove what an earlier, interrupted test attempt left behind."""
    shutil.rmtree(osp.join(run_dir, TEST_DIR), ignore_errors=True)
    path = osp.join(run_dir, PREDICTIONS_FILE)
    if osp.isfile(path):
        os.remove(path)
    partial = partial_path(osp.join(run_dir, RECORD_FILE))
    if osp.isfile(partial):
        os.remove(partial)


def checkpoint_classes(checkpoint: str) -> Optional[List[str]]:
    """Class names the training set had (``meta.dataset_meta.classes``,
    which MMEngine stores in every checkpoint), else ``None``.

    The file is read by :func:`lmfloss_mm.runner.load_checkpoint_file`; one
    it refuses raises :class:`lmfloss_mm.runner.UnsafePickleError`."""
    from lmfloss_mm.runner import UnsafePickleError, load_checkpoint_file
    try:
        ckpt = load_checkpoint_file(checkpoint, map_location='cpu', mmap=True)
    except UnsafePickleError:
        raise  # a refused file is reported, not taken for a missing one
    except Exception:  # missing, empty, truncated or not a checkpoint
        return None
    meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    classes = (meta.get('dataset_meta') or {}).get('classes')
    return [str(c) for c in classes] if classes is not None else None
