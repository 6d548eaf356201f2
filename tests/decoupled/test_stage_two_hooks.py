"""SecondStageHook (a second stage needs a fitting first-stage checkpoint;
cRT's head re-initialisation) and MaxNormHook (projection of the
classifier's rows, its radii, their round trip through checkpoints) on a
small model, with every argument and error."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import HOOKS

from lmfloss_mm.engine.hooks import MaxNormHook, SecondStageHook
from lmfloss_mm.engine.hooks.max_norm_hook import (max_norm_project_,
                                                   ratio_threshold)

CLASSES = ('a', 'b', 'c', 'd')
FIRST = 'configs/x/resnet50_in1k-pre_1xb32-ce-100e_x.py'


class Classifier(nn.Module):
    def __init__(self, head=None):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.neck = nn.Identity()
        self.head = head or LinearClsHead(len(CLASSES), 4)


def fake_runner(model, iteration=0, classes=CLASSES):
    dataset = SimpleNamespace(metainfo=dict(classes=classes))
    return SimpleNamespace(model=model, iter=iteration,
                           train_dataloader=SimpleNamespace(dataset=dataset))


def checkpoint_of(model, classes=CLASSES, prefix=''):
    state = {prefix + k: v.clone() for k, v in model.state_dict().items()}
    return dict(state_dict=state,
                meta=dict(dataset_meta=dict(classes=list(classes))))


# -- SecondStageHook ---------------------------------------------------------
def test_a_second_stage_without_a_checkpoint_stops():
    hook = SecondStageHook(first_stage=FIRST)
    with pytest.raises(RuntimeError, match='no checkpoint was loaded') as e:
        hook.before_train(fake_runner(Classifier()))
    assert FIRST in str(e.value) and '--cfg-options load_from=' in str(
        e.value)


def test_a_fitting_checkpoint_passes_even_with_a_module_prefix():
    model = Classifier()
    hook = SecondStageHook(first_stage=FIRST)
    hook.after_load_checkpoint(None, checkpoint_of(model, prefix='module.'))
    before = model.head.fc.weight.clone()
    hook.before_train(fake_runner(model))
    assert torch.equal(model.head.fc.weight, before)  # not re-initialised


def test_a_second_stage_head_may_have_tensors_of_its_own():
    model = Classifier()
    checkpoint = checkpoint_of(model)
    model.head.register_buffer('tau', torch.tensor(1.0))  # not in stage 1
    hook = SecondStageHook(first_stage=FIRST)
    hook.after_load_checkpoint(None, checkpoint)
    hook.before_train(fake_runner(model))


def test_a_checkpoint_of_another_model_is_refused():
    other = Classifier(LinearClsHead(7, 4))
    hook = SecondStageHook(first_stage=FIRST)
    hook.after_load_checkpoint(None, checkpoint_of(other))
    with pytest.raises(ValueError, match=r'head.fc.weight: checkpoint '
                       r'\(7, 4\), model \(4, 4\)') as e:
        hook.before_train(fake_runner(Classifier()))
    assert FIRST in str(e.value)
    checkpoint = checkpoint_of(Classifier())
    del checkpoint['state_dict']['backbone.1.running_var']
    hook.after_load_checkpoint(None, checkpoint)
    with pytest.raises(ValueError, match=r'1 tensors of the model are not in'
                       r' it \(first: backbone.1.running_var\)'):
        hook.before_train(fake_runner(Classifier()))


def test_a_checkpoint_of_another_dataset_is_refused():
    hook = SecondStageHook(first_stage=FIRST)
    hook.after_load_checkpoint(None, checkpoint_of(Classifier(),
                                                   classes='wxyz'))
    with pytest.raises(ValueError, match=r"trained on the classes \('w', "):
        hook.before_train(fake_runner(Classifier()))
    # a checkpoint without classes (not written by MMEngine) is accepted
    checkpoint = checkpoint_of(Classifier())
    del checkpoint['meta']
    hook.after_load_checkpoint(None, checkpoint)
    hook.before_train(fake_runner(Classifier()))


def test_crt_reinitialises_the_head_once_before_the_first_iteration():
    model = Classifier()
    with torch.no_grad():
        model.head.fc.weight.fill_(3.0)
        model.head.fc.bias.fill_(2.0)
    hook = SecondStageHook(first_stage=FIRST, reinit_head=True)
    hook.after_load_checkpoint(None, checkpoint_of(model))
    hook.before_train(fake_runner(model, iteration=5))  # a resumed run
    assert bool((model.head.fc.weight == 3.0).all())
    hook.before_train(fake_runner(model, iteration=0))
    weight, bias = model.head.fc.weight.detach(), model.head.fc.bias
    assert torch.equal(bias, torch.zeros(4))  # LinearClsHead's init_cfg
    assert 0.003 < float(weight.std()) < 0.02 and abs(
        float(weight.mean())) < 0.01


def test_the_new_head_is_rank_0s_in_every_process(monkeypatch):
    """Distributed: each process draws its own initialisation, so the head
    is broadcast from rank 0 (the wrapper broadcast only at construction)."""
    from lmfloss_mm.engine.hooks import second_stage_hook
    sent = []
    monkeypatch.setattr(second_stage_hook, 'broadcast',
                        lambda tensor, src: sent.append((tensor, src)))
    model = Classifier()
    hook = SecondStageHook(first_stage=FIRST, reinit_head=True)
    hook.after_load_checkpoint(None, checkpoint_of(model))
    hook.before_train(fake_runner(model))
    head = model.head.fc
    assert [src for _, src in sent] == [0, 0]
    # in place: the tensors sent are the parameters' storage
    assert sent[0][0].data_ptr() == head.weight.data_ptr()
    assert sent[1][0].data_ptr() == head.bias.data_ptr()


def test_a_head_without_init_cfg_is_reset_layer_by_layer():
    head = LinearClsHead(len(CLASSES), 4, init_cfg=None)
    model = Classifier(head)
    with torch.no_grad():
        head.fc.weight.fill_(3.0)
    hook = SecondStageHook(first_stage=FIRST, reinit_head=True)
    hook.after_load_checkpoint(None, checkpoint_of(model))
    hook.before_train(fake_runner(model))
    # nn.Linear.reset_parameters: uniform within 1 / sqrt(in_features)
    assert float(head.fc.weight.detach().abs().max()) <= 0.5


@pytest.mark.parametrize('first_stage', ['', None, 3])
def test_the_first_stage_must_be_named(first_stage):
    with pytest.raises(ValueError, match='first_stage must be the path'):
        SecondStageHook(first_stage=first_stage)


# -- MaxNormHook -------------------------------------------------------------
def numpy_projection(weight, radii):
    out = weight.copy()
    for j, row in enumerate(weight):
        norm = np.sqrt(row @ row)
        if norm > radii[j]:
            out[j] = row * radii[j] / norm
    return out


def test_projection_scales_long_rows_back_to_their_radius():
    weight = torch.randn(5, 7, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(0))
    weight[1] *= 0.01  # short, untouched
    radii = torch.tensor([0.5, 1.0, 2.0, 0.1, 3.0], dtype=torch.float64)
    expected = numpy_projection(weight.numpy(), radii.numpy())
    max_norm_project_(weight, radii)
    np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-12)
    assert bool((weight.norm(dim=1) <= radii * (1 + 1e-12)).all())


def test_ratio_threshold_is_the_authors_rule():
    norms = torch.tensor([2.0, 0.5, 4.0])
    assert ratio_threshold(norms, 0.1) == pytest.approx(0.5 + 0.1 * 3.5)
    assert ratio_threshold(norms, 0.0) == 0.5
    assert ratio_threshold(norms, 1.0) == 4.0


def classifier_with_norms(norms):
    model = Classifier()
    with torch.no_grad():
        rows = torch.randn(len(CLASSES), 4)
        model.head.fc.weight.copy_(rows / rows.norm(dim=1, keepdim=True) *
                                   torch.tensor(norms)[:, None])
    return model


def test_hook_projects_into_the_radius_from_the_initial_norms():
    model = classifier_with_norms([1.0, 2.0, 3.0, 5.0])
    runner = fake_runner(model)
    hook = MaxNormHook()  # thresh=0.1, the authors' value
    hook.before_train(runner)
    radius = 1.0 + 0.1 * 4.0
    torch.testing.assert_close(hook.max_norms,
                               torch.full((4, ), radius, dtype=torch.float64))
    bias = model.head.fc.bias.clone()
    hook.after_train_iter(runner, 0)
    norms = model.head.fc.weight.norm(dim=1)
    torch.testing.assert_close(norms, torch.tensor([1.0, radius, radius,
                                                    radius]))
    assert torch.equal(model.head.fc.bias, bias)  # the bias is free


@pytest.mark.parametrize('max_norm,expected', [
    (1.5, [1.5] * 4),
    ([0.5, 1.0, 2.5, 9.0], [0.5, 1.0, 2.5, 9.0]),
])
def test_hook_with_given_radii(max_norm, expected):
    model = classifier_with_norms([1.0, 2.0, 3.0, 5.0])
    hook = MaxNormHook(max_norm=max_norm)
    hook.before_train(fake_runner(model))
    hook.after_train_iter(fake_runner(model), 0)
    torch.testing.assert_close(
        model.head.fc.weight.norm(dim=1),
        torch.minimum(torch.tensor([1.0, 2.0, 3.0, 5.0]),
                      torch.tensor(expected)))


def test_computed_radii_survive_a_checkpoint_round_trip():
    model = classifier_with_norms([1.0, 2.0, 3.0, 5.0])
    hook = MaxNormHook(thresh=0.5)
    hook.before_train(fake_runner(model))
    hook.after_train_iter(fake_runner(model), 0)
    checkpoint = {'meta': {}}
    hook.before_save_checkpoint(None, checkpoint)
    saved = checkpoint['meta']['max_norm_thresholds']
    assert saved == pytest.approx([3.0] * 4)  # 1 + 0.5 (5 - 1)
    # resumed: the projected weights would give another radius (1 + 0.5 * 2)
    resumed = MaxNormHook(thresh=0.5)
    resumed.after_load_checkpoint(None, checkpoint)
    resumed.before_train(fake_runner(model))
    assert resumed.max_norms.tolist() == saved
    # radii given in the config win over saved ones; stage-1 checkpoints
    # have none
    given = MaxNormHook(max_norm=1.0)
    given.after_load_checkpoint(None, checkpoint)
    given.before_train(fake_runner(model))
    assert given.max_norms.tolist() == [1.0] * 4
    fresh = MaxNormHook(thresh=0.5)
    fresh.after_load_checkpoint(None, {'meta': {}})
    assert fresh.max_norms is None


@pytest.mark.parametrize('kwargs,message', [
    (dict(max_norm=1.0, thresh=0.1), 'not both'),
    (dict(thresh=1.5), r'thresh must be in \[0, 1\]'),
    (dict(thresh=True), r'thresh must be in \[0, 1\]'),
    (dict(max_norm=0.0), 'max_norm must be a positive number'),
    (dict(max_norm=[1.0, -1.0]), 'max_norm must be a positive number'),
    (dict(max_norm=[]), 'max_norm must be a positive number'),
])
def test_invalid_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaxNormHook(**kwargs)


def test_radii_and_layer_must_fit_the_model():
    with pytest.raises(ValueError, match='3 radii for 4 classes'):
        MaxNormHook(max_norm=[1.0, 1.0, 1.0]).before_train(
            fake_runner(Classifier()))
    with pytest.raises(ValueError, match="no layer 'head.cls'"):
        MaxNormHook(layer='head.cls').before_train(fake_runner(Classifier()))
    with pytest.raises(ValueError, match=r'must have a \(C, D\) weight'):
        MaxNormHook(layer='neck').before_train(fake_runner(Classifier()))


def test_hooks_are_registered():
    assert HOOKS.get('SecondStageHook') is SecondStageHook
    assert HOOKS.get('MaxNormHook') is MaxNormHook
