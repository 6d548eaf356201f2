"""CosineClsHead: cosine logits, scale, predict, numerics, registry, one
training run with LMFLoss, and the 12 ``-cos`` configs."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import lmfloss_mm  # noqa: F401
from lmfloss_mm.models.heads.cosine_cls_head import CosineClsHead

from ..engine.tiny_runner import COUNTS, make_image_folder, runner_config

REPO = Path(__file__).resolve().parents[2]


def make_head(num_classes=5, in_channels=8, seed=0, **kwargs):
    torch.manual_seed(seed)
    head = CosineClsHead(num_classes, in_channels, **kwargs)
    head.init_weights()
    return head


def numpy_cosines(features, weight):
    """Independent reference: cosines of float64 numpy vectors."""
    x = np.asarray(features, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    out = np.empty((len(x), len(w)))
    for i, xi in enumerate(x):
        for j, wj in enumerate(w):
            out[i, j] = xi @ wj / math.sqrt((xi @ xi) * (wj @ wj))
    return out


@pytest.fixture
def features():
    return torch.randn(6, 8, generator=torch.Generator().manual_seed(1)) * 3


def test_logits_are_cosines_of_normalised_vectors(features):
    head = make_head()
    logits = head((features, ))
    assert logits.shape == (6, 5) and logits.dtype == torch.float32
    expected = numpy_cosines(features.numpy(), head.fc.weight.detach().numpy())
    np.testing.assert_allclose(logits.detach().numpy(), expected, atol=1e-6)
    assert logits.abs().max() <= 1 + 1e-6
    # a feature parallel to a class weight has cosine 1 with it
    aligned = head.fc.weight.detach()[2:3] * 4.2
    assert head((aligned, ))[0, 2].item() == pytest.approx(1.0, abs=1e-6)
    # multi-stage input: only the last stage is used
    other = torch.randn(6, 8)
    assert torch.equal(head((other, features)), logits)


def test_logits_do_not_depend_on_feature_or_weight_norms(features):
    head = make_head()
    logits = head((features, ))
    row_scales = torch.tensor([1e-3, 0.5, 1.0, 7.0, 1e3, 1e5])[:, None]
    torch.testing.assert_close(head((features * row_scales, )), logits,
                               atol=2e-6, rtol=0)
    with torch.no_grad():
        head.fc.weight.mul_(torch.tensor([[0.01], [1], [3], [100], [0.2]]))
    torch.testing.assert_close(head((features, )), logits, atol=2e-6,
                               rtol=0)
    # the logits do change with the direction of the feature
    assert not torch.allclose(head((features.flip(1), )), logits, atol=1e-2)


def test_scale_multiplies_the_cosines(features):
    cosines = make_head()((features, ))
    scaled = make_head(scale=30.0)((features, ))
    torch.testing.assert_close(scaled, 30 * cosines)
    assert scaled.abs().max() > 5  # really scaled, not clipped to [-1, 1]


def test_gradients_reach_features_and_weights(features):
    head = make_head(loss=dict(type='LMFLoss', cls_num_list=[50, 20, 9, 4,
                                                               2]))
    feats = features.clone().requires_grad_(True)
    samples = [DataSample().set_gt_label(i % 5) for i in range(6)]
    loss = head.loss((feats, ), samples)['loss']
    loss.backward()
    for grad in (feats.grad, head.fc.weight.grad):
        assert torch.isfinite(grad).all() and grad.abs().max() > 1e-3
    # scale invariance: the gradient is orthogonal to each feature vector
    # and to each class weight
    radial = (feats.grad * feats).sum(1) / feats.norm(dim=1)
    assert radial.abs().max() < 1e-5 * feats.grad.norm(dim=1).max()
    weight = head.fc.weight
    radial_w = (weight.grad * weight).sum(1) / weight.norm(dim=1)
    assert radial_w.abs().max() < 1e-5 * weight.grad.norm(dim=1).max()


def test_predict_gives_softmax_rows(features):
    head = make_head(scale=2.0)
    cosines = head((features, )) / 2.0
    samples = head.predict((features, ))
    scores = torch.stack([s.pred_score for s in samples])
    torch.testing.assert_close(scores.sum(1), torch.ones(6))
    torch.testing.assert_close(scores, F.softmax(2.0 * cosines, dim=1))
    labels = torch.cat([s.pred_label for s in samples])
    assert torch.equal(labels, cosines.argmax(1))
    # score_scale only changes the scores, not the labels
    sharp = make_head(scale=2.0, score_scale=30.0)
    samples = sharp.predict((features, ), [DataSample() for _ in range(6)])
    scores = torch.stack([s.pred_score for s in samples])
    torch.testing.assert_close(scores, F.softmax(30.0 * cosines, dim=1))
    torch.testing.assert_close(scores.sum(1), torch.ones(6))
    assert torch.equal(torch.cat([s.pred_label for s in samples]), labels)
    assert scores.max() > F.softmax(2.0 * cosines, dim=1).max() + 0.1


def test_zero_features_give_zero_logits_and_finite_gradients():
    head = make_head(loss=dict(type='LDAMLoss', cls_num_list=[9, 5, 3, 2, 1]))
    feats = torch.zeros(2, 8, requires_grad=True)
    assert torch.equal(head((feats, )), torch.zeros(2, 5))
    samples = [DataSample().set_gt_label(0), DataSample().set_gt_label(4)]
    head.loss((feats, ), samples)['loss'].backward()
    assert torch.isfinite(feats.grad).all()
    assert torch.isfinite(head.fc.weight.grad).all()
    scores = torch.stack([s.pred_score for s in head.predict((feats, ))])
    torch.testing.assert_close(scores, torch.full((2, 5), 0.2))


def test_float16_autocast():
    head = make_head(num_classes=3, in_channels=2048)
    g = torch.Generator().manual_seed(0)
    feats = (torch.rand(4, 2048, generator=g) * 3000).half()  # norm > 65504
    assert torch.isinf(feats.norm(dim=1)).all()  # fp16 would overflow
    with torch.autocast('cpu', dtype=torch.float16):
        logits = head((feats, ))
    assert logits.dtype == torch.float32
    expected = numpy_cosines(feats.float().numpy(),
                             head.fc.weight.detach().numpy())
    np.testing.assert_allclose(logits.detach().numpy(), expected, atol=1e-5)
    with torch.autocast('cpu', dtype=torch.float16):
        head.loss_module = MODELS.build(dict(type='LMFLoss',
                                             cls_num_list=[10, 4, 1]))
        samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
        loss = head.loss((feats.requires_grad_(True), ), samples)['loss']
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(feats.grad).all()
    assert feats.grad.abs().max() > 0


def test_registry_build_and_checkpoint_layout():
    head = MODELS.build(
        dict(type='CosineClsHead', num_classes=7, in_channels=16, scale=30.0,
             loss=dict(type='LDAMLoss', cls_num_list='auto')))
    assert isinstance(head, CosineClsHead)
    assert head.scale == 30.0 and head.score_scale is None
    assert list(head.state_dict()) == ['fc.weight']  # no bias
    assert head.init_cfg == dict(type='Normal', layer='Linear', std=0.01)
    head.init_weights()
    assert 0.005 < head.fc.weight.std().item() < 0.02
    for bad in (dict(num_classes=0), dict(scale=0.0), dict(score_scale=-1.0),
                dict(eps=0.0)):
        with pytest.raises(ValueError):
            CosineClsHead(**{**dict(num_classes=3, in_channels=4), **bad})
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        head((torch.randn(2, 16, 3, 3), ))


def test_image_classifier_trains_with_cosine_head_and_lmf(tmp_path):
    data_root = make_image_folder(tmp_path / 'data')
    cfg = runner_config(data_root, tmp_path / 'work', max_epochs=1)
    cfg['model']['head'] = dict(
        type='CosineClsHead', num_classes=3, in_channels=64,
        score_scale=30.0, loss=dict(type='LMFLoss', cls_num_list='auto'))
    cfg['default_hooks']['checkpoint'] = None
    runner = Runner.from_cfg(cfg)
    head = runner.model.head
    assert isinstance(head, CosineClsHead)
    before = head.fc.weight.detach().clone()
    runner.train()
    assert runner.iter == 5  # 20 images, batch 4
    assert head.loss_module.class_counts.tolist() == list(COUNTS)
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0
    assert not torch.allclose(head.fc.weight, before)
    metrics = runner.val_loop.run()
    assert 0 <= metrics['accuracy/top1'] <= 100


BACKBONES = {'resnet50': 2048, 'efficientnetv2-s': 1280}
DATASETS = {'ham10000': 7, 'isic2019': 8, 'odir5k': 8}


@pytest.mark.parametrize('dataset', DATASETS)
def test_cos_configs_swap_only_the_head(dataset):
    for backbone, channels in BACKBONES.items():
        for loss in ('ldam', 'lmf'):
            stem = f'{backbone}_in1k-pre_1xb32-{loss}-%s100e_{dataset}.py'
            paper = Config.fromfile(str(REPO / 'configs' / dataset /
                                        (stem % '')))
            cos = Config.fromfile(str(REPO / 'configs' / dataset /
                                      (stem % 'cos-')))
            head = cos.model.head
            assert head.type == 'CosineClsHead'
            assert (head.num_classes, head.in_channels) == (DATASETS[dataset],
                                                           channels)
            assert head.loss == paper.model.head.loss  # the paper's loss
            assert (head.scale, head.score_scale) == (1.0, head.loss.s)
            assert set(head) == {'type', 'num_classes', 'in_channels',
                                 'scale', 'score_scale', 'loss', 'topk'}
            cos.model.pop('head')
            paper.model.pop('head')
            assert cos.model == paper.model
            for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler',
                        'train_cfg', 'default_hooks', 'custom_hooks'):
                assert cos[key] == paper[key], key


def test_recipe_for_focal_on_scaled_cosines():
    """docs/losses.md's alternative: head scale=30 + LMFLoss(s=1, max_m=15,
    focal_weight=1/30) keeps the LDAM term of the default -cos configs and
    moves the focal term to softmax(30 cos), with weights a_y = Delta_y."""
    counts = [327, 514, 1099, 115, 1113, 6705, 142]
    g = torch.Generator().manual_seed(0)
    cos = torch.rand(14, 7, generator=g, dtype=torch.float64) * 2 - 1
    labels = torch.arange(14) % 7

    def lmf(**kwargs):
        return MODELS.build(dict(type='LMFLoss', cls_num_list=counts,
                                 **kwargs))

    recipe = dict(s=1.0, max_m=15.0, focal_weight=1 / 30)
    default_ldam = lmf(focal_weight=0.0)(cos, labels,
                                         reduction_override='none')
    recipe_ldam = lmf(**{**recipe, 'focal_weight': 0.0})(
        30 * cos, labels, reduction_override='none')
    torch.testing.assert_close(recipe_ldam, default_ldam, rtol=1e-5,
                               atol=1e-5)
    focal = lmf(**recipe, ldam_weight=0.0)(30 * cos, labels,
                                           reduction_override='none')
    p = F.softmax(30 * cos, dim=1)[torch.arange(14), labels]
    margins = 0.5 * (min(counts) / torch.tensor(counts, dtype=torch.float64)
                     )**0.25
    expected = margins[labels] * (1 - p)**1.5 * -torch.log(p)
    torch.testing.assert_close(focal, expected, rtol=1e-5, atol=1e-7)
    # and it differs from the default's focal term on unscaled cosines
    default_focal = lmf(ldam_weight=0.0)(cos, labels,
                                         reduction_override='none')
    assert (default_focal - focal).abs().max() > 0.1
