"""Train the tiny run of :func:`kill_test_config` and SIGKILL this process
at the start of an iteration (the child process of
``test_kill_resume.py``)::

    python -m tests.engine.train_until_killed DATA_ROOT WORK_DIR ITERATION
"""
import os
import signal
import sys

import torch

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import lmfloss_mm  # noqa: F401
from tests.engine.tiny_runner import resumable_config

#: Two epochs of five iterations with LMFLoss ('auto' counts) and the
#: project runtime's checkpoint and non-finite-loss hooks.
EPOCHS = 2


def kill_test_config(data_root, work_dir, resume=False):
    return resumable_config(data_root, work_dir, EPOCHS, resume=resume)


class KillAt(Hook):
    """SIGKILL the process before training iteration ``iteration``
    (1-based), as an out-of-memory killer or a preempting scheduler would."""

    def __init__(self, iteration: int):
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


def main(data_root, work_dir, iteration):
    torch.set_num_threads(1)  # as the parent test process (tests/conftest.py)
    runner = Runner.from_cfg(Config(kill_test_config(data_root, work_dir)))
    runner.register_hook(KillAt(int(iteration)))
    runner.train()


if __name__ == '__main__':
    main(*sys.argv[1:])
