"""Checkpoints that survive a kill at any moment of a save."""
import glob
import os
import os.path as osp
from typing import Iterable, List, Union

import mmengine
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend, register_backend
from mmengine.hooks import CheckpointHook
from mmpretrain.registry import HOOKS

from lmfloss_mm.fileio import PARTIAL_SUFFIX, atomic_open, partial_path

#: Name of :class:`AtomicLocalBackend` in MMEngine's file-backend registry.
ATOMIC_LOCAL_BACKEND = 'atomic_local'


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` only ever holds the old
    complete content or the new complete content
    (:func:`lmfloss_mm.fileio.atomic_open`: written to :func:`partial_path`
    in the same folder, flushed, renamed, the folder synced)."""
    with atomic_open(path, binary=True) as f:
        f.write(data)


@register_backend(ATOMIC_LOCAL_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend whose ``put`` and ``put_text`` write
    atomically (:func:`write_atomic`): a reader, or a run resumed after a
    kill, never sees a partly written file."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        mmengine.mkdir_or_exist(osp.dirname(filepath))
        write_atomic(str(filepath), obj)

    def put_text(self, obj: str, filepath: Union[str, os.PathLike],
                 encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


class _DeferredRemovals:
    """Stands in for a file backend and records the paths it is asked to
    remove instead of removing them; everything else is passed through."""

    def __init__(self, backend):
        self.backend = backend
        self.paths: List[str] = []

    def remove(self, path: str) -> None:
        self.paths.append(path)

    def rmtree(self, path: str) -> None:
        self.paths.append(path)

    def __getattr__(self, name):
        return getattr(self.backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` made safe against a kill at any moment:
    a run killed while saving can always be resumed with ``resume=True``.

    It takes the same arguments and writes the same files as
    ``CheckpointHook`` (``epoch_<n>.pth`` / ``iter_<n>.pth``, ``best_*.pth``
    with ``save_best``, the ``last_checkpoint`` pointer) with two changes:

    * every checkpoint and the ``last_checkpoint`` pointer are written
      atomically: to a hidden ``.<name>.partial`` file in the same folder,
      synced to the disk, then renamed (:class:`AtomicLocalBackend`);
    * a checkpoint made obsolete by ``max_keep_ckpts`` or by a new best
      checkpoint is removed only after the new checkpoint and the pointer
      are complete (``CheckpointHook`` removes it first).

    A kill between a save and the removal it allows leaves one extra,
    complete checkpoint; the run resumes from the one ``last_checkpoint``
    names. Partial files left by a kill are removed at the start of the next
    run. Writes are atomic when checkpoints go to a local folder (the
    default); with ``backend_args``/``file_client_args`` for another storage
    the writes are that storage's, and only the removal order changes.

    Args:
        **kwargs: the arguments of MMEngine's ``CheckpointHook``
            (``interval``, ``by_epoch``, ``max_keep_ckpts``, ``save_best``,
            ``rule``, ``out_dir``, ``backend_args``, ...), with the same
            meaning and defaults.
    """

    def before_train(self, runner) -> None:
        """Select the atomic local backend, then set up as
        ``CheckpointHook`` does and remove partial files of a killed run."""
        out_dir = str(self.out_dir or runner.work_dir)
        if self.file_client_args is None and type(get_file_backend(
                out_dir, backend_args=self.backend_args)) is LocalBackend:
            self.backend_args = dict(backend=ATOMIC_LOCAL_BACKEND)
        super().before_train(runner)
        if not isinstance(self.file_backend, AtomicLocalBackend):
            runner.logger.warning(
                f'AtomicCheckpointHook: checkpoints go to {self.out_dir} '
                f'through {type(self.file_backend).__name__}, so they are '
                'not written atomically; old checkpoints are still removed '
                'only after the new one is saved.')
        elif is_main_process():
            for folder in {str(self.out_dir), runner.work_dir}:
                for leftover in glob.glob(
                        osp.join(glob.escape(folder), f'.*{PARTIAL_SUFFIX}')):
                    os.remove(leftover)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """``CheckpointHook``'s save, in a crash-safe order: write the new
        checkpoint, then the pointer, then remove what ``max_keep_ckpts``
        no longer keeps."""
        evicted = self._keep_step(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        write_atomic(osp.join(runner.work_dir, 'last_checkpoint'),
                     str(self.last_ckpt).encode())
        self._remove_obsolete(
            self.file_backend.join_path(self.out_dir,
                                        self.filename_tmpl.format(old))
            for old in evicted)

    def _keep_step(self, runner, step) -> List[int]:
        """Add ``step`` to the kept checkpoints (as ``CheckpointHook`` does)
        and return the steps that fall out of ``max_keep_ckpts``."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        evicted = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            evicted.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return evicted

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """``CheckpointHook``'s best-checkpoint logic, with the previous best
        checkpoint removed only after the new one has been saved."""
        deferred = _DeferredRemovals(self.file_backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = deferred.backend
        self._remove_obsolete(deferred.paths)

    def _remove_obsolete(self, paths: Iterable[str]) -> None:
        """Remove checkpoints that are neither the last nor a best one."""
        if not is_main_process():
            return
        current = {self.last_ckpt, getattr(self, 'best_ckpt_path', None),
                   *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in paths:
            if path in current:
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)


__all__ = ['AtomicCheckpointHook', 'AtomicLocalBackend', 'write_atomic',
           'partial_path']
