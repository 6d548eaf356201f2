"""Plain pickle files (``tools/test.py --out`` predictions) and the places
that read files from a results folder: crafted files are refused and run
nothing, real ones load."""
import pickle
from functools import partial

import numpy as np
import pytest
import torch
from mmengine.evaluator import DumpResults
from mmpretrain.structures import DataSample

import lmfloss_mm  # noqa: F401
from lmfloss_mm.grid.layout import checkpoint_classes
from lmfloss_mm.results.predictions import load_predictions
from lmfloss_mm.runner import (UnreadableFileError, UnsafePickleError,
                               load_pickle_file)

from .pickles import (BUILD, MARK, assert_runs_unrestricted, call, dict_,
                      dotted_global_mkdir, eval_mkdir,
                      eval_through_getattr_self, fragment, global_,
                      mkdir_with, module_attribute_mkdir, program,
                      stack_global_mkdir, text, torch_zip, write)


#: id -> (builder of the harmful program, what the refusal names)
PAYLOADS = {
    'builtins-eval': (eval_mkdir, 'builtins.eval'),
    'os-mkdir': (partial(mkdir_with, global_('os', 'mkdir')), 'os.mkdir'),
    'attribute-of-allowed-module': (module_attribute_mkdir,
                                    'torch.serialization.os'),
    'dotted-global-protocol-4': (dotted_global_mkdir,
                                 'torch.serialization.os.mkdir'),
    'stack-global-protocol-4': (stack_global_mkdir,
                                'torch.serialization.os.mkdir'),
    'inst-protocol-0': (lambda m: MARK + text(str(m)) + b'ios\nmkdir\n.',
                        'os.mkdir'),
    'getattr-chain': (eval_through_getattr_self, 'builtins.getattr'),
    # tensors in plain pickles embed a torch.save file, which torch's own
    # torch.storage._load_from_bytes reads with full unpickling
    'embedded-tensor-file': (lambda m: program(call(
        global_('torch.storage', '_load_from_bytes'),
        fragment(torch_zip(mkdir_with(global_('os', 'mkdir'), m))))),
                             'a tensor stored in it was refused'),
}


@pytest.mark.parametrize('name', sorted(PAYLOADS))
def test_payload_is_refused_and_runs_nothing(name, marker, tmp_path):
    build, reason = PAYLOADS[name]
    path = write(tmp_path / 'predictions.pkl', build(marker))
    with pytest.raises(UnsafePickleError) as info:
        load_predictions(path)
    assert path in str(info.value) and reason in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize('name', sorted(PAYLOADS))
def test_payloads_do_run_without_restriction(name, marker):
    assert_runs_unrestricted(PAYLOADS[name][0](marker), marker)


def test_allowed_functions_cannot_be_modified(tmp_path):
    rebuild = torch._utils._rebuild_tensor_v2
    defaults = rebuild.__defaults__
    for module, name in [('torch._utils', '_rebuild_tensor_v2'),
                         ('torch.storage', '_load_from_bytes'),
                         ('numpy._core.numeric', '_frombuffer')]:
        path = write(tmp_path / 'x.pkl', program(
            global_(module, name), fragment((None, {'__defaults__': (1, )})),
            BUILD))
        with pytest.raises(UnsafePickleError, match=f'modifies {module}'):
            load_pickle_file(path)
    assert rebuild.__defaults__ == defaults


def test_embedded_tensor_files_hold_only_storages(tmp_path):
    path = write(tmp_path / 'x.pkl', program(call(
        global_('torch.storage', '_load_from_bytes'),
        fragment(torch_zip(program(dict_()))))))
    with pytest.raises(UnsafePickleError, match='holds a dict'):
        load_pickle_file(path)
    path = write(tmp_path / 'x.pkl', program(call(
        global_('torch.storage', '_load_from_bytes'), text('not bytes'))))
    with pytest.raises(UnsafePickleError, match='non-bytes'):
        load_pickle_file(path)


def test_persistent_ids_are_refused(tmp_path):
    path = write(tmp_path / 'x.pkl', program(text('storage') + b'Q'))
    with pytest.raises(UnsafePickleError, match='persistent id'):
        load_pickle_file(path)


def test_reduce_payload_is_refused(tmp_path, marker):

    class Payload:

        def __reduce__(self):
            return (open, (str(marker), 'w'))

    path = tmp_path / 'predictions.pkl'
    with open(path, 'wb') as f:
        pickle.dump([{'pred_score': np.ones(2) / 2, 'x': Payload()}], f)
    with pytest.raises(UnsafePickleError, match=r'refers to [\w.]*open,'):
        load_predictions(path)
    assert not marker.exists()


# ---------------------------------------------------------- real files
def _samples():
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6],
                           [0.2, 0.5, 0.3]])
    labels = [0, 2, 1]
    samples = []
    for index, (score, label) in enumerate(zip(scores, labels)):
        sample = DataSample().set_gt_label(label).set_pred_score(score)
        sample.set_metainfo(dict(img_path=f'{index}.png', ori_shape=(32, 32),
                                 sample_idx=index))
        samples.append(sample.to_dict())
    return scores.numpy(), np.array(labels), samples


def test_dump_results_file_loads(tmp_path):
    """What ``tools/test.py --out`` writes (MMEngine's DumpResults)."""
    scores, labels, samples = _samples()
    path = str(tmp_path / 'predictions.pkl')
    metric = DumpResults(out_file_path=path)
    metric.process(None, samples)
    metric.compute_metrics(metric.results)
    got_scores, got_labels = load_predictions(path)
    np.testing.assert_allclose(got_scores, scores, rtol=1e-6)
    np.testing.assert_array_equal(got_labels, labels)
    assert load_pickle_file(path)[1]['img_path'] == '1.png'


@pytest.mark.parametrize('protocol', range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_any_pickle_protocol_loads(tmp_path, protocol):
    data = [dict(pred_score=np.array([0.25, 0.75], np.float32),
                 gt_label=torch.tensor([1]), ids={1, 2}, raw=b'\x00\xff',
                 shape=(3, 4), name='a', n=np.int64(7))]
    path = tmp_path / 'p.pkl'
    with open(path, 'wb') as f:
        pickle.dump(data, f, protocol=protocol)
    loaded = load_pickle_file(path)[0]
    assert loaded.keys() == data[0].keys()
    np.testing.assert_array_equal(loaded['pred_score'], [0.25, 0.75])
    assert torch.equal(loaded['gt_label'], torch.tensor([1]))
    assert (loaded['ids'], loaded['raw'], loaded['shape'], loaded['n']) == (
        {1, 2}, b'\x00\xff', (3, 4), 7)


# ----------------------------------------------------- checkpoint_classes
def test_checkpoint_classes(tmp_path, marker):
    path = tmp_path / 'best.pth'
    torch.save(dict(meta=dict(dataset_meta=dict(classes=('nv', 'mel'))),
                    state_dict={}), path)
    assert checkpoint_classes(str(path)) == ['nv', 'mel']
    assert checkpoint_classes(str(tmp_path / 'missing.pth')) is None
    assert checkpoint_classes(write(tmp_path / 'empty.pth', b'')) is None
    evil = write(tmp_path / 'evil.pth', torch_zip(program(dict_(
        meta=call(global_('os', 'mkdir'), text(str(marker)))))))
    with pytest.raises(UnsafePickleError, match='os.mkdir'):
        checkpoint_classes(evil)
    assert not marker.exists()


def test_unreadable_predictions_name_the_file(tmp_path):
    path = write(tmp_path / 'predictions.pkl', b'\x80\x02]')
    with pytest.raises(UnreadableFileError, match='predictions.pkl cannot'):
        load_predictions(path)
