"""What MMEngine and MMPretrain write into checkpoints loads through the
restricted loader, equal to what was saved (no training: the states come
from MMEngine's own components)."""
import copy
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.optim import (MultiStepLR, OneCycleLR, OptimWrapper, StepLR)
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
from mmengine.runner import CheckpointLoader, load_checkpoint

import lmfloss_mm  # noqa: F401  (registers the local checkpoint loader)
from lmfloss_mm.runner import load_checkpoint_file

from .pickles import fragment, program, torch_zip, write


def _save_and_load(obj, path, **save_kwargs):
    torch.save(obj, path, **save_kwargs)
    return CheckpointLoader.load_checkpoint(str(path), map_location='cpu')


def _message_hub():
    hub = MessageHub(f'test_{id(object())}')
    for step, loss in enumerate((0.9, 0.5, 0.25)):
        hub.update_scalar('train/loss', loss)
        hub.update_scalar('train/lr', torch.tensor(1e-3 / (step + 1)))
        hub.update_scalar('train/acc', np.float32(step * 10), count=2)
    hub.update_info('eta', np.float64(12.5))
    hub.update_info('best_score', 61.0)
    hub.update_info('dataset_meta', dict(classes=('nv', 'mel')))
    hub.update_info('max_iters', np.int64(30))
    return hub


def test_message_hub_with_history_buffers(tmp_path):
    hub = _message_hub()
    loaded = _save_and_load(
        dict(message_hub=hub.state_dict(), empty=HistoryBuffer()),
        tmp_path / 'hub.pth')
    assert type(loaded['empty']) is HistoryBuffer
    assert loaded['empty'].data[0].size == 0
    loaded = loaded['message_hub']
    restored = MessageHub('restored')
    restored.load_state_dict(loaded)
    for key, buffer in hub.log_scalars.items():
        copy_ = restored.get_scalar(key)
        assert type(copy_) is HistoryBuffer
        np.testing.assert_array_equal(copy_.data[0], buffer.data[0])
        np.testing.assert_array_equal(copy_.data[1], buffer.data[1])
        assert copy_.max_length == buffer.max_length
        assert copy_.mean(2) == buffer.mean(2)
        assert copy_.statistics('current') == buffer.current()
    assert restored.get_info('eta') == 12.5
    assert type(restored.get_info('eta')) is np.float64
    assert type(restored.get_info('max_iters')) is np.int64
    assert restored.get_info('dataset_meta') == dict(classes=('nv', 'mel'))
    assert HistoryBuffer._statistics_methods['mean'] is HistoryBuffer.mean


def _optimizer_and_schedulers():
    model = torch.nn.Linear(3, 2)
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=0.1))
    schedulers = [
        StepLR(wrapper, step_size=2, gamma=0.5),
        MultiStepLR(wrapper, milestones=[1, 3], gamma=0.1),
        OneCycleLR(wrapper, eta_max=0.2, total_steps=10,
                   anneal_strategy='cos'),
        OneCycleLR(wrapper, eta_max=0.2, total_steps=10,
                   anneal_strategy='linear'),
    ]
    for _ in range(3):
        wrapper.update_params(model(torch.ones(4, 3)).square().mean())
        for scheduler in schedulers:
            scheduler.step()
    return model, wrapper, schedulers


def test_adam_and_parameter_schedulers_resume_exactly(tmp_path):
    model, wrapper, schedulers = _optimizer_and_schedulers()
    loaded = _save_and_load(
        dict(optimizer=wrapper.state_dict(),
             param_schedulers=[s.state_dict() for s in schedulers]),
        tmp_path / 'optim.pth')

    saved = wrapper.state_dict()
    assert loaded['optimizer']['param_groups'] == saved['param_groups']
    for index, state in saved['state'].items():
        for key, value in state.items():
            assert torch.equal(loaded['optimizer']['state'][index][key],
                               value)
    for scheduler, state in zip(schedulers, loaded['param_schedulers']):
        assert state == scheduler.state_dict()
    assert type(loaded['param_schedulers'][1]['milestones']) is Counter
    assert loaded['param_schedulers'][2]['anneal_func'] is (
        OneCycleParamScheduler._annealing_cos)
    assert loaded['param_schedulers'][3]['anneal_func'] is (
        OneCycleParamScheduler._annealing_linear)

    # resuming into fresh objects continues exactly like the originals
    model2, wrapper2, schedulers2 = _optimizer_and_schedulers()
    model2.load_state_dict(model.state_dict())
    wrapper2.load_state_dict(loaded['optimizer'])
    for scheduler, state in zip(schedulers2, loaded['param_schedulers']):
        scheduler.load_state_dict(state)
    for m, w, ss in ((model, wrapper, schedulers),
                     (model2, wrapper2, schedulers2)):
        w.update_params(m(torch.ones(4, 3)).square().mean())
        for scheduler in ss:
            scheduler.step()
    assert wrapper2.get_lr() == wrapper.get_lr()
    for p, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, p2)


def test_published_checkpoint_and_plain_state_dict(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3),
                                torch.nn.BatchNorm2d(4))
    published = dict(
        meta=dict(epoch=100, iter=4000, mmpretrain_version='1.2.0',
                  dataset_meta=dict(classes=('nv', 'mel', 'bcc')),
                  cfg='model = dict(...)', seed=0),
        state_dict=OrderedDict(model.state_dict()))
    path = tmp_path / 'published.pth'
    loaded = _save_and_load(published, path)
    assert loaded['meta'] == published['meta']
    target = copy.deepcopy(model)
    torch.nn.init.zeros_(target[0].weight)
    load_checkpoint(target, str(path), map_location='cpu')
    for key, value in model.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)

    plain = _save_and_load(model.state_dict(), tmp_path / 'plain.pth')
    assert plain.keys() == model.state_dict().keys()


def test_legacy_non_zip_format_loads(tmp_path):
    hub = _message_hub()
    _, wrapper, _ = _optimizer_and_schedulers()
    loaded = _save_and_load(
        dict(message_hub=hub.state_dict(), optimizer=wrapper.state_dict()),
        tmp_path / 'legacy.pth', _use_new_zipfile_serialization=False)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer
    np.testing.assert_array_equal(buffer.data[0], [0.9, 0.5, 0.25])
    assert loaded['optimizer']['param_groups'] == (
        wrapper.state_dict()['param_groups'])


@pytest.mark.parametrize('value', [
    np.float16(1.5), np.int8(-3), np.uint64(2**63), np.bool_(True),
    np.complex64(1 + 2j), np.array(['a', 'bc']), np.arange(6).reshape(2, 3),
    np.array([1.0, 2.0], dtype='f4'), np.dtype('>f4'),
    np.datetime64('2020-01-02'), np.zeros(0)
], ids=repr)
def test_numpy_values(tmp_path, value):
    loaded = _save_and_load(dict(value=value), tmp_path / 'np.pth')['value']
    assert type(loaded) is type(value)
    if isinstance(value, np.ndarray):
        assert loaded.dtype == value.dtype
        np.testing.assert_array_equal(loaded, value)
    else:
        assert loaded == value


def test_numpy_1_names_resolve(tmp_path):
    """numpy 1.x writes numpy.core.multiarray, numpy 2 numpy._core."""
    ops = fragment(dict(a=np.arange(3.0), s=np.float64(2.5)))
    assert b'numpy._core.multiarray' in ops or b'numpy.core.multiarray' in ops
    for module in (b'numpy.core.multiarray', b'numpy._core.multiarray'):
        ops = ops.replace(b'numpy._core.multiarray', module).replace(
            b'numpy.core.multiarray', module)
        path = write(tmp_path / 'np.pth', torch_zip(program(ops)))
        loaded = load_checkpoint_file(path)
        np.testing.assert_array_equal(loaded['a'], [0.0, 1.0, 2.0])
        assert loaded['s'] == 2.5
