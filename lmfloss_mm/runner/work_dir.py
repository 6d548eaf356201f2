"""The checkpoints MMEngine's Runner leaves in a work folder."""
import glob
import os.path as osp
import re
from typing import Optional, Tuple

__all__ = ['DEFAULT_SAVE_BEST', 'save_best_key', 'last_checkpoint',
           'best_checkpoint', 'select_checkpoint', 'checkpoint_epoch']

#: The metric the project's configs keep the best checkpoint of.
DEFAULT_SAVE_BEST = 'imbalanced/macro_f1'


def checkpoint_epoch(path: str) -> int:
    """The number at the end of ``epoch_<n>.pth`` / ``..._<n>.pth``; -1
    when there is none."""
    match = re.search(r'(\d+)\.pth$', path)
    return int(match.group(1)) if match else -1


def save_best_key(cfg) -> str:
    """The metric of ``default_hooks.checkpoint.save_best`` (the first one
    if several), or :data:`DEFAULT_SAVE_BEST` when unset or ``'auto'``."""
    hooks = cfg.get('default_hooks', None) or {}
    save_best = (hooks.get('checkpoint', None) or {}).get('save_best')
    if isinstance(save_best, (list, tuple)):
        save_best = save_best[0] if save_best else None
    if not isinstance(save_best, str) or save_best == 'auto':
        return DEFAULT_SAVE_BEST
    return save_best


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint MMEngine resumes from: the path in ``last_checkpoint``
    when that file exists, else the newest ``epoch_*.pth`` /
    ``iter_*.pth``; ``None`` when there is none."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            path = f.read().strip()
        for candidate in (path, osp.join(work_dir, osp.basename(path))):
            if candidate and osp.isfile(candidate):
                return candidate
    found = glob.glob(osp.join(work_dir, 'epoch_*.pth')) + glob.glob(
        osp.join(work_dir, 'iter_*.pth'))
    return max(found, key=checkpoint_epoch) if found else None


def best_checkpoint(work_dir: str,
                    save_best: str = DEFAULT_SAVE_BEST) -> Optional[str]:
    """Newest ``best_<save_best with / as _>_{epoch,iter}_<n>.pth``."""
    key = save_best.replace('/', '_')
    found = glob.glob(osp.join(work_dir, f'best_{key}_*.pth'))
    return max(found, key=checkpoint_epoch) if found else None


def select_checkpoint(work_dir: str,
                      save_best: str = DEFAULT_SAVE_BEST
                      ) -> Tuple[Optional[str], Optional[str]]:
    """``(path, 'best' | 'last')``: the best checkpoint, else the last one;
    ``(None, None)`` when the folder has no checkpoint."""
    path = best_checkpoint(work_dir, save_best)
    if path:
        return path, 'best'
    path = last_checkpoint(work_dir)
    return (path, 'last') if path else (None, None)
