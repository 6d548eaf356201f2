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
        predictions.pkl            per-sample predictions (test.py --out)
        metrics.json               the finished marker, written last

A run is *done* once ``metrics.json`` exists; everything else is an
unfinished run that the grid runner restarts from where it stopped.
"""
import glob
import json
import os
import os.path as osp
import re
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

METRICS_FILE = 'metrics.json'
PREDICTIONS_FILE = 'predictions.pkl'
TRAIN_DONE_FILE = 'train_done.json'
TRAIN_LOG = 'train.log'
TEST_LOG = 'test.log'
TEST_DIR = 'test'
#: The metric the project's configs keep the best checkpoint of.
DEFAULT_SAVE_BEST = 'imbalanced/macro_f1'
#: Keys of MMEngine's test log that are timings, not metrics.
TIMING_KEYS = ('time', 'data_time', 'test/time', 'test/data_time')

#: Run states, in the order a run goes through them.
NEW, RESUME, TEST, DONE = 'new', 'resume', 'test', 'done'


def dump_json_atomic(obj, path: str) -> None:
    """Write JSON so that ``path`` either does not exist or is complete:
    a temporary file in the same folder, flushed to disk, then renamed."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.',
                               suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f, indent=2)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def load_json(path: str):
    with open(path) as f:
        return json.load(f)


def _trailing_int(path: str) -> int:
    match = re.search(r'(\d+)\.pth$', path)
    return int(match.group(1)) if match else -1


def last_checkpoint(run_dir: str) -> Optional[str]:
    """The checkpoint MMEngine resumes from: the path in ``last_checkpoint``
    when that file exists, else the newest ``epoch_*.pth`` / ``iter_*.pth``;
    ``None`` when there is none."""
    marker = osp.join(run_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            path = f.read().strip()
        for candidate in (path, osp.join(run_dir, osp.basename(path))):
            if candidate and osp.isfile(candidate):
                return candidate
    found = glob.glob(osp.join(run_dir, 'epoch_*.pth')) + glob.glob(
        osp.join(run_dir, 'iter_*.pth'))
    return max(found, key=_trailing_int) if found else None


def best_checkpoint(run_dir: str,
                    save_best: str = DEFAULT_SAVE_BEST) -> Optional[str]:
    """Newest ``best_<save_best with / as _>_{epoch,iter}_<n>.pth``."""
    key = save_best.replace('/', '_')
    found = glob.glob(osp.join(run_dir, f'best_{key}_*.pth'))
    return max(found, key=_trailing_int) if found else None


def select_checkpoint(run_dir: str,
                      save_best: str = DEFAULT_SAVE_BEST
                      ) -> Tuple[Optional[str], Optional[str]]:
    """``(path, 'best' | 'last')``: the best checkpoint, else the last one;
    ``(None, None)`` when the run has no checkpoint."""
    path = best_checkpoint(run_dir, save_best)
    if path:
        return path, 'best'
    path = last_checkpoint(run_dir)
    return (path, 'last') if path else (None, None)


def run_state(run_dir: str) -> str:
    """:data:`DONE` (``metrics.json`` exists), :data:`TEST` (training
    finished, test missing), :data:`RESUME` (a checkpoint to resume from)
    or :data:`NEW`."""
    if osp.isfile(osp.join(run_dir, METRICS_FILE)):
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
    for tmp in glob.glob(osp.join(run_dir, f'.{METRICS_FILE}.*.tmp')):
        os.remove(tmp)


def test_log_json(test_dir: str) -> Optional[str]:
    """MMEngine's test-time JSON log, ``<test_dir>/<ts>/<ts>.json``, of the
    newest test run in ``test_dir``; ``None`` if there is none."""
    found = [
        path for path in glob.glob(osp.join(test_dir, '*', '*.json'))
        if osp.basename(osp.dirname(path)) == osp.splitext(
            osp.basename(path))[0]
    ]
    return max(found) if found else None


def read_test_metrics(test_dir: str) -> Dict:
    """The metrics of the test run in ``test_dir``, as MMEngine's
    ``LoggerHook`` wrote them after the test epoch (every evaluator key,
    scalars and lists, timings dropped).

    Raises ``FileNotFoundError`` when there is no test log and
    ``ValueError`` when it holds no metric.
    """
    path = test_log_json(test_dir)
    if path is None:
        raise FileNotFoundError(
            f'no MMEngine test log <timestamp>/<timestamp>.json in '
            f'{test_dir}')
    with open(path) as f:
        text = f.read()
    try:  # MMEngine dumps one JSON object on one line
        record = json.loads(text)
    except ValueError:  # else take the last line holding one
        lines = [line for line in text.splitlines() if line.strip()]
        record = json.loads(lines[-1]) if lines else {}
    if not isinstance(record, dict):
        record = {}
    metrics = {k: v for k, v in record.items() if k not in TIMING_KEYS}
    if not metrics:
        raise ValueError(f'{path} holds no metric')
    return metrics


def checkpoint_classes(checkpoint: str) -> Optional[List[str]]:
    """Class names the training set had (``meta.dataset_meta.classes``,
    which MMEngine stores in every checkpoint), else ``None``."""
    import torch
    try:
        ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False,
                          mmap=True)
    except Exception:  # not a zip checkpoint (mmap) or unreadable
        try:
            ckpt = torch.load(checkpoint, map_location='cpu',
                              weights_only=False)
        except Exception:
            return None
    meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    classes = (meta.get('dataset_meta') or {}).get('classes')
    return [str(c) for c in classes] if classes is not None else None
