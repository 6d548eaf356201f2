"""Train and test one config in this process and store its run record:
the step both the demo and the cross-validated benchmark repeat."""
import datetime
import os.path as osp
from typing import Any, Dict, Optional

from lmfloss_mm.fileio import dump_json_atomic
from lmfloss_mm.results.labels import config_labels, config_stem
from lmfloss_mm.results.provenance import collect_provenance
from lmfloss_mm.results.record import RECORD_FILE, RunRecord
from lmfloss_mm.results.work_dir import PREDICTIONS_FILE
from lmfloss_mm.runner.progress import RunProgress
from lmfloss_mm.runner.train_test import release_memory, train_and_test

__all__ = ['train_test_run']


def train_test_run(cfg, config: str, seed: int, fold: Optional[int] = None,
                   labels: Optional[Dict[str, str]] = None,
                   stem: Optional[str] = None,
                   info: Optional[Dict[str, Any]] = None,
                   progress: Optional[RunProgress] = None) -> RunRecord:
    """Train ``cfg``, test its best checkpoint and store the run record
    (``<work_dir>/metrics.json``, predictions in
    ``<work_dir>/predictions.pkl``). The record's ``info['provenance']`` is
    :func:`~lmfloss_mm.results.provenance.collect_provenance` of this
    process, read right after training.

    Args:
        cfg (Config): The run's complete config (``work_dir`` set).
        config (str): The config file it was made from (for the record).
        seed (int): The training seed in ``cfg``.
        fold (int, optional): Cross-validation fold. Defaults to None.
        labels (dict, optional): ``dataset`` / ``backbone`` / ``loss``
            labels that replace the ones read from ``cfg``.
        stem (str, optional): Config stem of the record (groups its seeds
            and folds); the file name of ``config`` when None.
        info (dict, optional): More fields for the record.
        progress (RunProgress, optional): Prints the ETA after each epoch.

    Returns:
        RunRecord: The stored record.
    """
    predictions = osp.join(cfg.work_dir, PREDICTIONS_FILE)
    hooks = [progress.epoch_hook()] if progress is not None else []
    result = train_and_test(cfg, predictions, hooks)
    # what made the result: read in the process that trained, after training
    provenance = collect_provenance()
    release_memory()
    record = RunRecord(
        path=osp.join(cfg.work_dir, RECORD_FILE),
        config=config,
        config_stem=stem or config_stem(config),
        seed=seed,
        fold=fold,
        classes=result.classes,
        metrics=result.metrics,
        predictions=predictions,
        info=dict(
            checkpoint=result.checkpoint,
            checkpoint_kind=result.checkpoint_kind,
            best_epoch=result.best_epoch,
            best_val=result.best_val,
            val_curve=result.val_curve,
            train_counts=result.train_counts,
            seconds=round(result.seconds, 1),
            finished=datetime.datetime.now().isoformat(timespec='seconds'),
            provenance=provenance,
            **(info or {})),
        **dict(config_labels(cfg, config), **(labels or {})))
    dump_json_atomic(record.to_dict(), record.path)
    return record
