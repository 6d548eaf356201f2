"""A run SIGKILLed in the middle of an epoch resumes (``resume=True``) and
ends bit-identical to an uninterrupted run (``deterministic=True``)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import lmfloss_mm  # noqa: F401

from .tiny_runner import assert_equal_tensors, make_image_folder
from .train_until_killed import kill_test_config

REPO = Path(__file__).resolve().parents[2]
#: Epoch 2, batch 3 of 5: after epoch 1's checkpoint, before epoch 2's.
KILL_AT = 8


def train(cfg):
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    return runner


@pytest.mark.slow  # a training subprocess killed with SIGKILL
def test_sigkill_mid_epoch_then_resume_is_bit_exact(tmp_path):
    data_root = make_image_folder(tmp_path / 'data')
    killed = tmp_path / 'killed'
    result = subprocess.run(
        [sys.executable, '-m', 'tests.engine.train_until_killed', data_root,
         str(killed), str(KILL_AT)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert (killed / 'last_checkpoint').read_text() == str(
        killed / 'epoch_1.pth')

    resumed = train(kill_test_config(data_root, killed, resume=True))
    reference = train(kill_test_config(data_root, tmp_path / 'reference'))

    assert resumed.iter == reference.iter == 10
    assert_equal_tensors(resumed.model.state_dict(),
                         reference.model.state_dict())
    assert_equal_tensors(resumed.optim_wrapper.state_dict(),
                         reference.optim_wrapper.state_dict())
