"""Stop training at the first NaN or infinite loss."""
import math
from typing import Mapping, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS

#: Image paths of the failing batch shown in the error message.
MAX_PATHS_SHOWN = 8


class NonFiniteLossError(FloatingPointError):
    """A training loss was NaN or infinite (raised by
    :class:`NonFiniteLossHook`)."""


def is_finite(value) -> bool:
    """Whether a loss value (tensor or number) has only finite entries."""
    if torch.is_tensor(value):
        return bool(torch.isfinite(value.detach()).all())
    return math.isfinite(float(value))


def format_value(value) -> str:
    if torch.is_tensor(value):
        value = value.detach()
        return f'{value.item():.6g}' if value.numel() == 1 else str(
            value.cpu().tolist())
    return f'{float(value):.6g}'


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training with :class:`NonFiniteLossError` at the first
    iteration whose loss is NaN or infinite.

    After each training iteration it checks the entries of the log
    variables the model returned (``outputs`` of ``after_train_iter``) whose
    name contains ``'loss'``, the entries MMEngine sums into the training
    loss. The error names the iteration, the epoch, every entry with its
    value, the last checkpoint and the likely causes. Its priority
    (``'HIGH'``) runs it before ``CheckpointHook``, ``LoggerHook`` and the
    parameter schedulers, so no checkpoint holds the weights of that step,
    and the error propagates out of ``runner.train()``. In distributed
    training every process stops at the same iteration (one
    ``all_reduce`` of a flag per iteration).

    The check looks at loss values only: with fp16 and dynamic loss scaling,
    infinite *gradients* are skipped by the gradient scaler and are not
    reported here.
    """

    priority = 'HIGH'

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch=None,
                         outputs: Optional[Mapping] = None) -> None:
        if not outputs:
            return
        bad = [key for key, value in outputs.items()
               if 'loss' in key and not is_finite(value)]
        processes_with_bad = len(bad) > 0
        if get_world_size() > 1:
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag, op='sum')
            processes_with_bad = int(flag.item())
        if processes_with_bad:
            raise NonFiniteLossError(
                self._message(runner, batch_idx, data_batch, outputs, bad,
                              processes_with_bad))

    @staticmethod
    def _message(runner, batch_idx, data_batch, outputs, bad,
                 processes_with_bad) -> str:
        where = f'iteration {runner.iter + 1}'
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            where += (f' (epoch {runner.epoch + 1}, batch {batch_idx + 1} of '
                      f'{len(loop.dataloader)})')
        terms = ', '.join(f'{key}={format_value(value)}'
                          for key, value in outputs.items())
        if bad:
            what = f'the training loss is not finite at {where}: {terms}.'
        else:
            what = (f'the training loss is not finite at {where} on '
                    f'{processes_with_bad} other process(es); here: {terms}.')
        last = runner.message_hub.get_info('last_ckpt')
        lines = [
            f'NonFiniteLossHook: {what}',
            'Training was stopped before any checkpoint holds the weights of '
            'this step. ' + (f'The last checkpoint is {last}; after the fix, '
                             'resume from it with resume=True.'
                             if last else 'No checkpoint was saved yet.'),
            'Likely causes:',
            f'  - a learning rate too high ({_learning_rates(runner)}): lower '
            'optim_wrapper.optimizer.lr, add a warm-up, or clip gradients '
            'with optim_wrapper.clip_grad=dict(max_norm=...);',
            '  - fp16 overflow: train in bfloat16 (optim_wrapper=dict('
            "type='AmpOptimWrapper', dtype='bfloat16')) or keep fp16 with "
            "dynamic loss scaling (loss_scale='dynamic');",
            '  - NaN or Inf in the inputs' + _inputs_summary(data_batch) + ';',
            '  - a class whose count is zero in cls_num_list, or a zero or '
            'non-finite class weight: count-based margins and weights divide '
            'by the counts.',
        ]
        return '\n'.join(lines)


def _learning_rates(runner) -> str:
    rates = runner.optim_wrapper.get_lr()
    return 'now ' + ', '.join(
        f'{name}={format_value(min(values))}' + (
            f'..{format_value(max(values))}' if len(set(values)) > 1 else '')
        for name, values in rates.items())


def _inputs_summary(data_batch) -> str:
    """Non-finite input values and image paths of the failing batch."""
    if not isinstance(data_batch, Mapping):
        return ''
    parts = []
    inputs = data_batch.get('inputs')
    tensors = [inputs] if torch.is_tensor(inputs) else [
        t for t in (inputs or []) if torch.is_tensor(t)]
    floating = [t for t in tensors if t.is_floating_point()]
    if floating:
        count = sum(int((~torch.isfinite(t)).sum()) for t in floating)
        parts.append(f'this batch has {count} non-finite input values')
    paths = [sample.metainfo.get('img_path')
             for sample in data_batch.get('data_samples') or []
             if hasattr(sample, 'metainfo')]
    paths = [p for p in paths if p]
    if paths:
        shown = ', '.join(paths[:MAX_PATHS_SHOWN])
        more = (f' and {len(paths) - MAX_PATHS_SHOWN} more'
                if len(paths) > MAX_PATHS_SHOWN else '')
        parts.append(f'images of this batch: {shown}{more}')
    return f" ({'; '.join(parts)})" if parts else ''


__all__ = ['NonFiniteLossHook', 'NonFiniteLossError']
