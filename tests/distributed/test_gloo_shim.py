"""lmfloss_mm.engine.dist in one process: config changes and errors."""
import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from lmfloss_mm.engine.dist import (TORCHRUN_VARIABLES, gloo_runner_cfg,
                                    init_gloo_process_group)


def test_gloo_runner_cfg_is_mmengines_default_wrapper_without_device_ids():
    cfg = Config(dict(launcher='none', find_unused_parameters=True,
                      model=dict(type='ImageClassifier')))
    out = gloo_runner_cfg(cfg)
    assert out.launcher == 'pytorch'
    assert out.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=True, device_ids=None)
    assert cfg.launcher == 'none' and 'model_wrapper_cfg' not in cfg  # copy


def test_gloo_runner_cfg_keeps_the_configs_wrapper_arguments():
    cfg = Config(dict(model_wrapper_cfg=dict(
        type='MMDistributedDataParallel', broadcast_buffers=True,
        device_ids=[3], static_graph=True)))
    assert gloo_runner_cfg(cfg).model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', broadcast_buffers=True,
        find_unused_parameters=False, device_ids=None, static_graph=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is visible')
def test_gloo_runner_cfg_refuses_sync_bn_on_the_cpu():
    with pytest.raises(ValueError, match='sync_bn=None'):
        gloo_runner_cfg(Config(dict(sync_bn='torch')))
    assert gloo_runner_cfg(Config(dict(sync_bn=None))).launcher == 'pytorch'


def test_init_names_the_missing_torchrun_variables(monkeypatch):
    assert not dist.is_initialized()
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('RANK', '0')
    with pytest.raises(RuntimeError) as error:
        init_gloo_process_group()
    message = str(error.value)
    assert ': LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set' in (
        message)
    assert 'torchrun --nproc_per_node' in message
    assert not dist.is_initialized()
