"""Crafted ``torch.save`` checkpoints are refused and run nothing.

Each harmful program ends in ``os.mkdir(marker)`` (``pickles.py``): the
tests assert that the restricted loader refuses it with a reason, that the
marker does not exist, and, as a control, that the unrestricted unpickler
does create it.
"""
import os
import pickle
import re
from functools import partial

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

import lmfloss_mm  # noqa: F401  (registers the local checkpoint loader)
from lmfloss_mm.runner import UnsafePickleError, load_checkpoint_file

from .pickles import (EMPTY_TUPLE, HISTORY_BUFFER, NEWOBJ,
                      assert_runs_unrestricted, call, dict_,
                      dotted_global_mkdir, eval_mkdir,
                      eval_through_getattr_self, eval_through_globals,
                      fragment, getattr_, global_,
                      history_buffer, integer, mkdir_with,
                      module_attribute_mkdir, program, stack_global_mkdir,
                      text, torch_zip, tuple_, write)


def history_method(name: str) -> bytes:
    return getattr_(HISTORY_BUFFER, name)


ONE_CYCLE = global_('mmengine.optim.scheduler.param_scheduler',
                    'OneCycleParamScheduler')

#: id -> (builder of the harmful program, what the refusal names)
PAYLOADS = {
    'builtins-eval': (eval_mkdir, 'eval'),
    'os-mkdir': (partial(mkdir_with, global_('os', 'mkdir')), 'os.mkdir'),
    'posix-mkdir': (partial(mkdir_with, global_('posix', 'mkdir')),
                    'posix.mkdir'),
    # a name prefix allowlist would accept these: attributes of torch modules
    'attribute-of-allowed-module': (module_attribute_mkdir,
                                    'torch.serialization.os'),
    'dotted-global-protocol-4': (dotted_global_mkdir,
                                 'torch.serialization.os.mkdir'),
    'stack-global-protocol-4': (stack_global_mkdir, 'STACK_GLOBAL'),
    # getattr chains that start from objects checkpoints may contain
    'history-buffer-method-globals': (partial(
        eval_through_globals, history_method('min')), '__globals__'),
    'history-buffer-init': (partial(
        eval_through_globals, history_method('__init__')), '__init__'),
    'one-cycle-annealing-globals': (partial(
        eval_through_globals, getattr_(ONE_CYCLE, '_annealing_cos')),
                                    '__globals__'),
    'getattr-self-is-builtins': (eval_through_getattr_self, '__self__'),
    'torch-rebuild-function-globals': (partial(
        eval_through_globals, global_('torch._utils', '_rebuild_tensor_v2')),
                                       '__globals__'),
}


@pytest.mark.filterwarnings('ignore:Detected pickle protocol')
@pytest.mark.parametrize('name', sorted(PAYLOADS))
def test_payload_is_refused_and_runs_nothing(name, marker, tmp_path):
    path = write(tmp_path / 'evil.pth', torch_zip(PAYLOADS[name][0](marker)))
    with pytest.raises(UnsafePickleError) as info:
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    message = str(info.value)
    assert path in message and 'was not loaded' in message
    assert PAYLOADS[name][1] in message
    assert not marker.exists()


@pytest.mark.parametrize('name', sorted(PAYLOADS))
def test_payloads_do_run_without_restriction(name, marker):
    assert_runs_unrestricted(PAYLOADS[name][0](marker), marker)


class _Payload:
    """``torch.save`` of this object pickles a call of ``open``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_reduce_payload_saved_by_torch_is_refused(tmp_path, marker):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _Payload(str(marker))}, path)
    with pytest.raises(UnsafePickleError,
                       match=r'refers to [\w.]*open, which is not one'):
        CheckpointLoader.load_checkpoint(str(path))
    assert not marker.exists()


# ----------------------------------------------- refusals with no payload
def _load_program(tmp_path, *ops):
    path = write(tmp_path / 'crafted.pth', torch_zip(program(*ops)))
    with pytest.raises(UnsafePickleError) as info:
        load_checkpoint_file(path)
    return str(info.value)


def test_getattr_answers_only_the_listed_pairs(tmp_path):
    assert "attribute 'register_statistics' of HistoryBuffer" in (
        _load_program(tmp_path, getattr_(HISTORY_BUFFER,
                                         'register_statistics')))
    # a default argument or a non-str name is refused too
    message = _load_program(
        tmp_path, call(global_('builtins', 'getattr'), HISTORY_BUFFER,
                       text('min'), integer(0)))
    assert "attribute 'min' of HistoryBuffer" in message
    message = _load_program(
        tmp_path, call(global_('builtins', 'getattr'), HISTORY_BUFFER,
                       integer(1)))
    assert 'attribute 1 of HistoryBuffer' in message
    # the refusal lists what is allowed
    assert 'HistoryBuffer.mean' in message
    assert 'OneCycleParamScheduler._annealing_linear' in message


def test_allowed_callables_refuse_harmful_arguments(tmp_path):
    # torch allows _rebuild_from_type_v2, which calls its first argument
    message = _load_program(tmp_path, call(
        global_('torch._tensor', '_rebuild_from_type_v2'),
        global_('builtins', 'getattr'), global_('torch', 'Tensor'),
        tuple_(history_method('min'), text('__globals__')), dict_()))
    assert ("attribute '__globals__' of "
            'mmengine.logging.history_buffer.HistoryBuffer.min') in message
    message = _load_program(tmp_path, call(HISTORY_BUFFER, fragment([1.0]),
                                           fragment([1]), integer(5)))
    assert 'constructor arguments' in message
    message = _load_program(tmp_path, call(ONE_CYCLE))
    assert 'it calls mmengine.optim.scheduler' in message


def _state(**changes):
    state = dict(max_length=10, _log_history=np.array([1.0, 3.0]),
                 _count_history=np.array([1, 1]),
                 statistics_methods={'mean': HistoryBuffer.mean})
    state.update(changes)
    return {k: v for k, v in state.items() if v is not None}


@pytest.fixture
def statistics_methods():
    """HistoryBuffer's class-wide methods, restored after the test."""
    HistoryBuffer()  # registers the defaults
    saved = dict(HistoryBuffer._statistics_methods)
    yield saved
    HistoryBuffer._statistics_methods.clear()
    HistoryBuffer._statistics_methods.update(saved)


@pytest.mark.parametrize('state, reason', [
    (_state(statistics_methods={'mean': HistoryBuffer.max}),
     "statistics method 'mean'"),
    (_state(statistics_methods={'median': HistoryBuffer.min}),
     "statistics method 'median'"),
    (_state(statistics_methods=[HistoryBuffer.max]), 'not a dict'),
    (_state(mean=HistoryBuffer.max), "'mean'"),
    (_state(_log_history=np.array([1.0, 3.0], dtype=object)), 'numeric'),
    (_state(_count_history=np.array([1])), 'different lengths'),
    (_state(max_length=True), 'max_length=True'),
    (_state(max_length=None), "['_count_history', '_log_history',"),
], ids=['remap-mean', 'add-method', 'methods-list', 'shadow-method',
        'object-array', 'length-mismatch', 'bool-max-length',
        'missing-key'])
def test_history_buffer_state_is_checked(tmp_path, statistics_methods, state,
                                         reason):
    message = _load_program(tmp_path, history_buffer(state))
    assert reason in message
    assert HistoryBuffer._statistics_methods == statistics_methods


def test_remapping_statistics_is_what_mmengine_would_do(statistics_methods):
    """Control: MMEngine's own unpickling lets a file remap ``mean``."""
    pickle.loads(program(history_buffer(
        _state(statistics_methods={'mean': HistoryBuffer.max}))))
    assert HistoryBuffer._statistics_methods['mean'] is HistoryBuffer.max


def test_history_buffer_needs_exactly_one_state(tmp_path, statistics_methods):
    assert 'without its state' in _load_program(
        tmp_path, HISTORY_BUFFER + EMPTY_TUPLE + NEWOBJ)
    assert 'HistoryBuffer' in _load_program(
        tmp_path, history_buffer(_state(), _state(max_length=3)))


def test_build_cannot_modify_allowed_functions(tmp_path):
    rebuild = torch._utils._rebuild_tensor_v2
    defaults = rebuild.__defaults__
    _load_program(tmp_path, global_('torch._utils', '_rebuild_tensor_v2'),
                  fragment((None, {'__defaults__': (1, )})), b'b')
    _load_program(tmp_path, global_('builtins', 'getattr'),
                  fragment({'__defaults__': (1, )}), b'b')
    assert rebuild.__defaults__ == defaults


def test_persistent_ids_other_than_storages_are_refused(tmp_path):
    message = _load_program(tmp_path, text('module') + b'Q')
    assert 'persistent_load' in message


def test_globals_registered_elsewhere_do_not_widen_the_allowlist(
        tmp_path, marker):
    saved = torch.serialization.get_safe_globals()
    torch.serialization.add_safe_globals([getattr, eval])
    try:
        path = write(tmp_path / 'evil.pth',
                     torch_zip(PAYLOADS['history-buffer-method-globals'][0](
                         marker)))
        with pytest.raises(UnsafePickleError, match='__globals__'):
            load_checkpoint_file(path)
        assert not marker.exists()
        assert {getattr, eval} <= set(torch.serialization.get_safe_globals())
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)


def test_refusal_names_the_fix(tmp_path, marker):
    path = write(tmp_path / 'evil.pth',
                 torch_zip(eval_mkdir(marker)))
    with pytest.raises(UnsafePickleError) as info:
        load_checkpoint_file(path)
    assert re.search('Nothing in it was run.*LMFLOSS_MM_TRUSTED_CHECKPOINTS'
                     '.*docs/checkpoints.md', str(info.value))
    assert os.listdir(tmp_path) == ['evil.pth']
