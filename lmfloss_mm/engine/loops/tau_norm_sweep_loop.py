"""Choose the tau of tau-normalisation on the validation set."""
import math
from numbers import Real
from typing import Dict, List, Sequence, Tuple, Union

from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop
from mmpretrain.registry import LOOPS
from torch.utils.data import DataLoader

from lmfloss_mm.engine.hooks.second_stage_hook import unwrap_model

#: Kang et al.'s range, tau in [0, 1], in steps of 0.1.
DEFAULT_TAUS = tuple(round(0.1 * i, 1) for i in range(11))


@LOOPS.register_module()
class TauNormSweepLoop(BaseLoop):
    r"""The "training" of tau-normalisation: validate the model at every
    ``tau`` of a grid and keep the best (Kang et al., ICLR 2020, choose
    :math:`\tau` on a validation split).

    Used as ``train_cfg = dict(type='TauNormSweepLoop')`` with a
    :class:`~lmfloss_mm.models.TauNormClsHead` and the stage-1 checkpoint as
    ``load_from``; nothing is trained. ``tools/train.py`` then

    1. sets the head's ``tau`` to each value of ``taus`` in turn and runs
       the ordinary validation loop (``val_dataloader``, ``val_evaluator``
       and every hook, so each ``tau``'s metrics are logged and written to
       the scalar logs like an epoch's); validation ``k`` of the sweep
       (``tau = taus[k - 1]``) counts as epoch ``k``;
    2. logs a table of ``metric`` for every ``tau`` and the chosen one, the
       first ``tau`` (in the order given) with the highest score, and leaves
       it in the head;
    3. leaves the checkpoint of the chosen ``tau`` in the work directory:
       the runtime's ``CheckpointHook(save_best=metric, rule='greater')``
       keeps the checkpoint of the best validation, as in any training, so
       it is ``best_<metric>_epoch_<k>.pth`` with ``k`` the 1-based position
       of the chosen ``tau``. The head's ``tau`` is in the checkpoint
       (``head.tau``): ``tools/test.py CONFIG that.pth`` reports the test
       set at the chosen ``tau``.

    The train dataloader is built (the class counts of
    ``cls_num_list='auto'`` come from it) but never iterated.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The train dataloader (given by the
            runner).
        taus (Sequence[float]): Values to try, finite and ``>= 0``, without
            repeats. Defaults to :data:`DEFAULT_TAUS` (0, 0.1, ..., 1).
        metric (str): Validation metric to maximise; it must be the
            ``save_best`` of the checkpoint hook when that is set. Defaults
            to ``'imbalanced/macro_f1'`` (the project's model selection).
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 taus: Sequence[float] = DEFAULT_TAUS,
                 metric: str = 'imbalanced/macro_f1') -> None:
        super().__init__(runner, dataloader)
        taus = list(taus) if not isinstance(taus, (str, bytes)) else []
        if not taus or any(
                isinstance(t, bool) or not isinstance(t, Real)
                or not math.isfinite(t) or t < 0 for t in taus):
            raise ValueError('TauNormSweepLoop: taus must be a non-empty list '
                             f'of finite numbers >= 0, got {taus!r}')
        if len(set(taus)) != len(taus):
            raise ValueError(f'TauNormSweepLoop: taus repeat a value: {taus}')
        self.taus = [float(t) for t in taus]
        self.metric = metric
        self._epoch = 0
        #: ``(tau, score)`` of every validation of the last run
        self.results: List[Tuple[float, float]] = []
        self.best_tau = None

    @property
    def max_epochs(self) -> int:
        """One validation per ``tau``."""
        return len(self.taus)

    @property
    def max_iters(self) -> int:
        """Nothing is trained."""
        return 0

    @property
    def epoch(self) -> int:
        """Validations done."""
        return self._epoch

    @property
    def iter(self) -> int:
        """Nothing is trained."""
        return 0

    def _head(self):
        head = getattr(unwrap_model(self.runner), 'head', None)
        if not callable(getattr(head, 'set_tau', None)):
            raise TypeError(
                'TauNormSweepLoop needs model.head of type TauNormClsHead, '
                f'got {type(head).__name__}')
        return head

    def _check_checkpoint_hook(self) -> None:
        for hook in self.runner.hooks:
            if not isinstance(hook, CheckpointHook) or not hook.save_best:
                continue
            keys = [hook.save_best] if isinstance(hook.save_best, str) \
                else list(hook.save_best)
            if keys != [self.metric]:
                raise ValueError(
                    f'TauNormSweepLoop(metric={self.metric!r}) chooses tau '
                    f'by another metric than the checkpoint hook keeps the '
                    f'best checkpoint of ({keys}); set both to the same key.')

    def run(self):
        """Validate every ``tau``; returns the model."""
        head = self._head()
        if self.runner.val_loop is None:
            raise ValueError('TauNormSweepLoop chooses tau on the validation '
                             'set: the config needs val_dataloader, val_cfg '
                             'and val_evaluator')
        self._check_checkpoint_hook()
        self.runner.call_hook('before_train')
        self.results = []
        for index, tau in enumerate(self.taus):
            head.set_tau(tau)
            self._epoch = index + 1
            print_log(f'TauNormSweepLoop: validation {self._epoch}/'
                      f'{len(self.taus)}, tau = {tau:g}', logger='current')
            metrics = self.runner.val_loop.run()
            if self.metric not in metrics:
                raise KeyError(
                    f'TauNormSweepLoop: the validation metrics have no '
                    f'{self.metric!r} (got {sorted(metrics)}); set metric= '
                    'to one of them')
            self.results.append((tau, float(metrics[self.metric])))
        best_tau, best_score = max(self.results, key=lambda r: r[1])
        self.best_tau = best_tau
        head.set_tau(best_tau)
        self.runner.message_hub.update_info('tau_norm/best_tau', best_tau)
        rows = '\n'.join(f'{tau:>6g} {score:>10.4f}'
                         + ('  <- chosen' if tau == best_tau else '')
                         for tau, score in self.results)
        print_log(f'TauNormSweepLoop: validation {self.metric} per tau\n'
                  f'{"tau":>6} {"score":>10}\n{rows}\nchosen tau = '
                  f'{best_tau:g} ({self.metric} {best_score:.4f}); its '
                  'checkpoint is the best checkpoint of this run.',
                  logger='current')
        self.runner.call_hook('after_train')
        return self.runner.model
