"""tools/plot_losses.py: writes valid small PNGs, deterministically, and its
curves (from the real loss modules) are right at known points."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
FIGURES = ('ce.png', 'softmax_focal.png', 'ldam.png', 'lmf.png',
           'cosine_head_lmf.png')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'plot_losses', REPO / 'tools' / 'plot_losses.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writes_small_valid_pngs(tool, tmp_path):
    paths = tool.main(['--out-dir', str(tmp_path)])
    names = {p.name for p in paths}
    assert set(FIGURES) <= names
    # every other registered loss of the project gets a figure or is skipped
    assert len(names) <= len(FIGURES) + len(tool.other_losses())
    for path in paths:
        assert path.parent == tmp_path and path.stat().st_size < 150_000
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == 'PNG'
            assert image.size[0] > 600 and image.size[1] > 200
            # not blank: curves and text give many distinct colours
            assert len(image.convert('RGB').getcolors(1 << 20)) > 50


def test_figures_are_deterministic(tool, tmp_path):
    outputs = []
    for name in ('a', 'b'):
        (tmp_path / name).mkdir()
        outputs.append(tool.figure_lmf(tmp_path / name, 90).read_bytes())
    assert outputs[0] == outputs[1]


def test_construction_gives_the_requested_probability(tool):
    import torch
    p = np.array([0.01, 0.3, 0.5, 0.97])
    logits = tool.logits_for_p(p)
    assert logits.shape == (4, 7)
    np.testing.assert_allclose(torch.softmax(logits, 1)[:, 0].numpy(), p,
                               rtol=1e-12)


def test_ce_curve(tool):
    ce = tool.build(tool.CE)
    value, grad = tool.loss_curve(ce, p=[0.5])
    assert value[0] == pytest.approx(math.log(2), rel=1e-9)
    assert grad[0] == pytest.approx(-0.5, rel=1e-9)
    value, grad = tool.loss_curve(ce)
    np.testing.assert_allclose(value, -np.log(tool.P_GRID), rtol=1e-9)
    np.testing.assert_allclose(grad, tool.P_GRID - 1, atol=1e-12)


def test_focal_curve(tool):
    p = np.array([0.2, 0.5, 0.9, 0.99])
    ce_value, ce_grad = tool.loss_curve(tool.build(tool.CE), p=p)
    for gamma in (1.5, 2.0):
        loss = tool.build(dict(tool.FOCAL, gamma=gamma))
        value, grad = tool.loss_curve(loss, p=p)
        np.testing.assert_allclose(value, -(1 - p)**gamma * np.log(p),
                                   rtol=1e-9)
        # d/dz_y = (dFL/dp) * p (1 - p): an independent closed form
        dfl_dp = gamma * (1 - p)**(gamma - 1) * np.log(p) - (1 - p)**gamma / p
        np.testing.assert_allclose(grad, dfl_dp * p * (1 - p), rtol=1e-9)
        # focal pushes much less than CE on easy samples
        assert np.all(np.abs(grad[2:]) < 0.2 * np.abs(ce_grad[2:]))
        assert np.all(value < ce_value)
    focal_2 = tool.loss_curve(tool.build(dict(tool.FOCAL, gamma=2.0)), p=p)
    focal_15 = tool.loss_curve(tool.build(dict(tool.FOCAL, gamma=1.5)), p=p)
    assert np.all(np.abs(focal_2[1][2:]) < np.abs(focal_15[1][2:]))


def ldam_reference(z, target, margins, s):
    shifted = s * z.copy()
    shifted[:, target] -= s * margins[target]
    shifted -= shifted.max(1, keepdims=True)
    log_p = shifted[:, target] - np.log(np.exp(shifted).sum(1))
    return -log_p


def test_ldam_and_lmf_curves(tool):
    counts = np.array(tool.COUNTS, dtype=float)
    margins = 0.5 * (counts.min() / counts)**0.25
    assert margins[tool.RARE] == pytest.approx(0.5)
    p = np.array([0.05, 0.2, 0.5, 0.9])
    z = tool.logits_for_p(p).roll(tool.RARE, dims=1).numpy()
    ldam = tool.build(tool.LDAM)
    for target in (tool.RARE, tool.COMMON):
        zt = tool.logits_for_p(p).roll(target, dims=1).numpy()
        value, grad = tool.loss_curve(ldam, p=p, target=target)
        # the class weight cancels (weight-normalised mean, one class);
        # rtol 1e-6: the loss keeps its margins in float32
        np.testing.assert_allclose(
            value, ldam_reference(zt, target, margins, 30.0), rtol=1e-6)
    # gradient s (p' - 1) with p' the margin-shifted, scaled probability
    value, grad = tool.loss_curve(ldam, p=p)
    p_shift = np.exp(-ldam_reference(z, tool.RARE, margins, 30.0))
    np.testing.assert_allclose(grad, 30 * (p_shift - 1), rtol=1e-6,
                               atol=1e-12)
    assert grad[0] == pytest.approx(-30, rel=1e-3)  # hinge-like at low p
    assert abs(grad[2]) < 1e-3  # saturated at p = 0.5 (C = 7)

    total = tool.loss_curve(tool.build(tool.LMF), p=p)
    ldam_part = tool.loss_curve(tool.build(dict(tool.LMF, focal_weight=0.0)),
                                p=p)
    focal_part = tool.loss_curve(tool.build(dict(tool.LMF, ldam_weight=0.0)),
                                 p=p)
    for i in (0, 1):
        np.testing.assert_allclose(total[i], ldam_part[i] + focal_part[i],
                                   rtol=1e-9)
    np.testing.assert_allclose(ldam_part[0], 1.5 * value, rtol=1e-9)
    # official focal term: plain mean, weight a_y = margin of df = 0.5
    np.testing.assert_allclose(focal_part[0],
                               0.5 * (1 - p)**1.5 * -np.log(p), rtol=1e-9)


def test_cosine_curves(tool):
    cos, curves = tool.cosine_curves(cos=np.array([-1.0, 0.0, 0.9]))
    ldam_value, ldam_grad = curves['1.5 LDAM part (s=30 on cosines)']
    focal_value, focal_grad = curves['1.0 focal part (unscaled cosines)']
    # at cos_y = 0 every class has cosine 0: the focal p_y is 1/7
    assert focal_value[1] == pytest.approx(
        0.5 * (6 / 7)**1.5 * math.log(7), rel=1e-9)
    # s=30 LDAM: the margin 0.5 costs 15 logits; 1.5 * (15 + log(...))
    assert ldam_value[1] == pytest.approx(
        1.5 * -math.log(math.exp(-15) / (math.exp(-15) + 6)), rel=1e-9)
    # LDAM dominates on hard samples, the focal term on easy ones
    assert abs(ldam_grad[0]) > 50 * abs(focal_grad[0])
    assert abs(focal_grad[2]) > 100 * abs(ldam_grad[2])
    # the focal term never saturates on cosines: p_y <= e/(e + 6/e) here
    assert abs(focal_grad[2]) > 0.25
