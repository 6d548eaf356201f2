"""Train, then test the best checkpoint, in this process, with MMEngine's
``Runner``; the in-process counterpart of ``mim train`` + ``mim test``
(used by ``tools/demo.py`` and the cross-validated benchmark).
"""
import copy
import functools
import gc
import glob
import json
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction

from .work_dir import checkpoint_epoch, save_best_key, select_checkpoint

__all__ = ['TrainTestResult', 'load_config', 'parse_cfg_options',
           'train_and_test', 'read_val_curve', 'release_memory']


@functools.lru_cache(maxsize=None)
def _parse(path: str) -> Config:
    cfg = Config.fromfile(path, format_python_code=False)
    # MMEngine 0.10.7 drops format_python_code for non-lazy configs; yapf
    # formatting takes seconds per dump (the Runner dumps the config at
    # start and in every checkpoint)
    object.__setattr__(cfg, '_format_python_code', False)
    return cfg


def parse_cfg_options(options: Optional[Sequence[str]]) -> dict:
    """``['a.b=1', 'c=[1,2]']`` → dict, exactly as MMEngine's
    ``--cfg-options`` (``DictAction``) parses them."""
    if not options:
        return {}
    import argparse
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def load_config(path: str, cfg_options=None) -> Config:
    """A fresh copy of ``Config.fromfile(path)`` with ``cfg_options``
    merged (a dict, or ``--cfg-options`` strings).

    The file is parsed once per process (parsing a chain of ``_base_``
    files takes about a second) and the copy never formats itself with
    yapf.
    """
    cfg = copy.deepcopy(_parse(osp.abspath(path)))
    if cfg_options and not isinstance(cfg_options, dict):
        cfg_options = parse_cfg_options(cfg_options)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


@dataclass
class TrainTestResult:
    """What one :func:`train_and_test` produced.

    Attributes:
        metrics (dict): Test metrics with their MMEngine keys, as plain
            Python values (lists for the per-class values).
        checkpoint (str): The checkpoint tested.
        checkpoint_kind (str): ``'best'`` (best validation score) or
            ``'last'`` (the config keeps no best checkpoint).
        best_epoch (int): Epoch of the tested checkpoint.
        val_curve (list[float]): The validation value of the ``save_best``
            metric after every validation.
        best_val (float, optional): Its value at ``best_epoch``.
        classes (list[str], optional): The training set's class names.
        train_counts (list[int], optional): Its samples per class.
        seconds (float): Wall time of training and testing.
        predictions (str, optional): The predictions file written.
    """
    metrics: Dict[str, Any]
    checkpoint: str
    checkpoint_kind: str
    best_epoch: int
    val_curve: List[float] = field(default_factory=list)
    best_val: Optional[float] = None
    classes: Optional[List[str]] = None
    train_counts: Optional[List[int]] = None
    seconds: float = 0.0
    predictions: Optional[str] = None


def _plain(value):
    """Tensors / numpy values -> JSON-able Python values."""
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def read_val_curve(work_dir: str, key: str) -> List[dict]:
    """``[{'step': epoch, 'value': v}]`` of validation metric ``key`` from
    MMEngine's ``<work_dir>/<ts>/vis_data/scalars.json``."""
    curve = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json'))):
        with open(path, encoding='utf-8') as f:
            for line in f:
                entry = json.loads(line)
                if key in entry:
                    curve.append(dict(step=entry['step'], value=entry[key]))
    return curve


def release_memory() -> None:
    """Free a finished Runner (it holds reference cycles and, with
    ``persistent_workers=True``, loader processes) and cached GPU memory
    before the next run in the same process."""
    gc.collect()
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def train_and_test(cfg: Config, predictions: Optional[str] = None,
                   hooks: Sequence = ()) -> TrainTestResult:
    """Train ``cfg``, then test its best checkpoint (the config's
    ``save_best`` metric; the last checkpoint when it keeps none).

    Args:
        cfg (Config): A complete config with ``work_dir`` set.
        predictions (str, optional): Also write the test predictions here,
            as ``mim test ... --out`` does. Defaults to None.
        hooks (Sequence[Hook]): Extra hook instances for the Runner (e.g.
            a progress hook). Defaults to none.

    Returns:
        TrainTestResult: The test metrics and what was tested.

    Raises:
        RuntimeError: Training left no checkpoint to test.
    """
    from mmengine.evaluator import DumpResults
    from mmengine.runner import Runner

    from lmfloss_mm.datasets.labels import count_labels, dataset_classes
    start = time.time()
    runner = Runner.from_cfg(cfg)
    for hook in hooks:
        runner.register_hook(hook)
    runner.train()
    save_best = save_best_key(cfg)
    checkpoint, kind = select_checkpoint(cfg.work_dir, save_best)
    if checkpoint is None:
        raise RuntimeError(f'training left no checkpoint in {cfg.work_dir}')
    runner.load_checkpoint(checkpoint)
    if predictions:
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=predictions))
    metrics = {k: _plain(v) for k, v in runner.test().items()}
    epoch = checkpoint_epoch(checkpoint)
    curve = read_val_curve(cfg.work_dir, save_best)
    train_set = runner.train_dataloader.dataset
    classes = dataset_classes(train_set)
    counts = None
    if classes is not None:
        counts = count_labels(train_set, len(classes))[0].tolist()
    return TrainTestResult(
        metrics=metrics,
        checkpoint=checkpoint,
        checkpoint_kind=kind,
        best_epoch=epoch,
        val_curve=[round(c['value'], 4) for c in curve],
        best_val=max((c['value'] for c in curve if c['step'] == epoch),
                     default=None),
        classes=classes,
        train_counts=counts,
        seconds=time.time() - start,
        predictions=predictions)
