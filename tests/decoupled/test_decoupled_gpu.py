"""On a GPU: the second stages with the real ResNet-50 and EfficientNetV2-S
at 224 px and mixed precision (float16 with loss scaling, bfloat16) keep the
backbone's weights bit for bit and its BatchNorm statistics (MiSLAS: shift
them) and train the classifier of their method, for a few iterations.
Skipped without CUDA."""
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import lmfloss_mm  # noqa: F401
from lmfloss_mm.datasets.synthetic import make_fake_ham10000
from tests.conftest import shrink_config

from .configs import (BACKBONES, Recorder, check_second_stage, path_of,
                      start_from_first_stage)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason='needs CUDA')
CASES = [(backbone, variant, 'float16') for backbone in BACKBONES
         for variant in ('ce-crt-10e', 'ce-lws-10e', 'ce-wb-maxnorm-10e',
                         'mixup-ce-mislas-10e')]
CASES += [(backbone, 'ce-crt-10e', 'bfloat16') for backbone in BACKBONES]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return str(make_fake_ham10000(tmp_path_factory.mktemp('ham10000')))


@pytest.mark.parametrize('backbone,variant,dtype', CASES,
                         ids=['/'.join(case) for case in CASES])
def test_second_stage_on_the_gpu(backbone, variant, dtype, data_root,
                                 tmp_path):
    cfg = Config.fromfile(str(path_of('ham10000', backbone, variant)))
    cfg = shrink_config(cfg, data_root, tmp_path, image_size=224,
                        square=True, train_batch=8)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3,
                         val_interval=3)
    cfg.optim_wrapper.update(type='AmpOptimWrapper', dtype=dtype)
    loaded = start_from_first_stage(cfg, tmp_path)
    runner = Runner.from_cfg(cfg)
    recorder = Recorder()
    runner.register_hook(recorder)
    runner.train()
    assert next(runner.model.parameters()).is_cuda
    assert runner.iter == 3
    assert 0 <= recorder.metrics['imbalanced/macro_f1'] <= 100
    check_second_stage(variant, runner.model.cpu(), loaded, recorder.head)
