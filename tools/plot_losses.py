"""Plot each loss of the project, and its gradient with respect to the
true-class logit, against the true-class probability ``p_y``.

    python tools/plot_losses.py --out-dir docs/figures

Construction (C-class, not 2-class): C = 7 classes with the HAM10000 class
counts ``COUNTS`` (akiec, bcc, bkl, df, mel, nv, vasc), so LDAM's margins are
those of a real imbalanced dataset. The six other logits are 0 and the
true-class logit is ``z_y = log(p (C - 1) / (1 - p))``, so that
``softmax(z)_y = p`` exactly; ``p_y`` is the softmax of the logits the loss
receives, i.e. the probability MMPretrain's ``predict`` reports. Each curve
is a batch of such rows that all have the same true class, so a loss that
normalises by the batch's class weights (LDAM's ``F.cross_entropy(weight=w)``
convention) divides by that class's own weight: its class weight cancels,
while an unnormalised (plain-mean) term keeps it.

Values and gradients come from the project's loss modules, built from
MMPretrain's ``MODELS`` registry and differentiated by autograd in float64;
no formula is re-implemented here. Besides the figures for CE, softmax focal
loss, LDAM, LMF and the cosine head, every other loss registered from
``lmfloss_mm/models/losses/`` gets a figure with its default arguments (and
the counts above when it takes ``cls_num_list``).

The figures are deterministic (no randomness, no timestamp in the PNGs).
"""
import argparse
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without pip install
    sys.path.insert(0, str(REPO))

import lmfloss_mm  # noqa: E402,F401  (registers the losses)
from mmpretrain.registry import MODELS  # noqa: E402

#: HAM10000 images per class (akiec, bcc, bkl, df, mel, nv, vasc).
CLASSES = ('akiec', 'bcc', 'bkl', 'df', 'mel', 'nv', 'vasc')
COUNTS = (327, 514, 1099, 115, 1113, 6705, 142)
RARE = CLASSES.index('df')  # 115 images: the largest LDAM margin, 0.5
COMMON = CLASSES.index('nv')  # 6705 images: margin 0.5 (115/6705)^0.25
#: the probability grid, 0.005 ... 0.995 (0.5 included)
P_GRID = np.round(np.linspace(0.005, 0.995, 199), 6)
#: losses with a dedicated figure
KNOWN = ('SoftmaxFocalLoss', 'LDAMLoss', 'LMFLoss')

CE = dict(type='CrossEntropyLoss')
FOCAL = dict(type='SoftmaxFocalLoss')
LDAM = dict(type='LDAMLoss', cls_num_list=list(COUNTS), max_m=0.5, s=30.0,
            class_weight='margins')
LMF = dict(type='LMFLoss', cls_num_list=list(COUNTS), ldam_weight=1.5,
           focal_weight=1.0, gamma=1.5, max_m=0.5, s=30.0,
           class_weight='margins')


def build(cfg):
    return MODELS.build(dict(cfg))


def logits_for_p(p, num_classes=len(COUNTS)):
    """``(N, C)`` float64 logits with ``softmax(z)_0 = p``: true class in
    column 0 (rolled to the target by :func:`loss_curve`), others 0."""
    p = torch.as_tensor(np.asarray(p, dtype=np.float64))
    logits = torch.zeros(p.numel(), num_classes, dtype=torch.float64)
    logits[:, 0] = torch.log(p * (num_classes - 1) / (1 - p))
    return logits


def loss_curve(loss, p=P_GRID, target=RARE, num_classes=len(COUNTS),
               logits=None):
    """Per-sample value and ``d loss / d z_y`` of a loss module.

    Args:
        loss (nn.Module): a loss with MMPretrain's contract.
        p (array): true-class probabilities (ignored if ``logits`` given).
        target (int): the true class of every row.
        logits (Tensor, optional): ``(N, C)`` logits with the true class in
            column ``target``; default: :func:`logits_for_p` rolled there.

    Returns:
        tuple[np.ndarray, np.ndarray]: values and gradients, ``(N,)``.
    """
    if logits is None:
        logits = logits_for_p(p, num_classes).roll(target, dims=1)
    logits = logits.detach().clone().requires_grad_(True)
    labels = torch.full((logits.size(0), ), target, dtype=torch.long)
    value = loss(logits, labels, reduction_override='none')
    value.sum().backward()  # row i's loss depends on row i only
    return (value.detach().numpy().astype(np.float64),
            logits.grad[:, target].numpy().astype(np.float64))


def _panel_axes(title, xlabel='true-class probability $p_y$'):
    fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(8.4, 3.1))
    ax_loss.set_title('loss', fontsize=9)
    ax_grad.set_title(r'gradient $\partial L / \partial z_y$', fontsize=9)
    for ax in (ax_loss, ax_grad):
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return fig, ax_loss, ax_grad


def _plot(ax_loss, ax_grad, x, curve, label, **style):
    ax_loss.plot(x, curve[0], label=label, lw=1.3, **style)
    ax_grad.plot(x, curve[1], label=label, lw=1.3, **style)


def _ce_reference(ax_loss, ax_grad, log=False):
    value, grad = loss_curve(build(CE))
    _plot(ax_loss, ax_grad, P_GRID, (value, -grad if log else grad), 'CE',
          color='0.45', ls='--')


def _log_scale(ax_loss, ax_grad, what=r'\partial L / \partial z_y'):
    """Log y axes; the gradient panel then shows ``-gradient``."""
    ax_loss.set_yscale('log')
    ax_grad.set_yscale('log')
    ax_loss.set_ylim(1e-6, 1e3)
    ax_grad.set_ylim(1e-6, 1e3)
    ax_loss.set_title('loss (log scale)', fontsize=9)
    ax_grad.set_title(f'$-{what}$ (log scale)', fontsize=9)


def _save(fig, ax_loss, out_dir, name, dpi):
    ax_loss.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    path = Path(out_dir) / name
    # no 'Software' entry: the bytes do not depend on matplotlib's version
    fig.savefig(path, dpi=dpi, metadata={'Software': None})
    plt.close(fig)
    return path


def figure_ce(out_dir, dpi):
    fig, ax_loss, ax_grad = _panel_axes(
        'Cross-entropy (mmpretrain CrossEntropyLoss): $-\\log p_y$, '
        'gradient $p_y - 1$')
    _plot(ax_loss, ax_grad, P_GRID, loss_curve(build(CE)), 'CE', color='k')
    return _save(fig, ax_loss, out_dir, 'ce.png', dpi)


def figure_focal(out_dir, dpi):
    fig, ax_loss, ax_grad = _panel_axes(
        'Softmax focal loss $-(1-p_y)^\\gamma \\log p_y$ (SoftmaxFocalLoss, '
        'unweighted)')
    _ce_reference(ax_loss, ax_grad)
    for gamma, color in ((1.5, 'C0'), (2.0, 'C1')):
        curve = loss_curve(build(dict(FOCAL, gamma=gamma)))
        _plot(ax_loss, ax_grad, P_GRID, curve, f'focal $\\gamma$={gamma}',
              color=color)
    return _save(fig, ax_loss, out_dir, 'softmax_focal.png', dpi)


def figure_ldam(out_dir, dpi):
    loss = build(LDAM)
    margins = loss.margins.tolist()
    fig, ax_loss, ax_grad = _panel_axes(
        'LDAM, s=30, max_m=0.5 (paper configs), on an ordinary linear '
        'head\'s logits; HAM10000 counts')
    _log_scale(ax_loss, ax_grad)
    _ce_reference(ax_loss, ax_grad, log=True)
    for target, color in ((RARE, 'C3'), (COMMON, 'C0')):
        value, grad = loss_curve(loss, target=target)
        _plot(ax_loss, ax_grad, P_GRID, (value, -grad),
              f'true class {CLASSES[target]} (n={COUNTS[target]}, '
              f'$\\Delta$={margins[target]:.2f})', color=color)
    return _save(fig, ax_loss, out_dir, 'ldam.png', dpi)


def figure_lmf(out_dir, dpi):
    fig, ax_loss, ax_grad = _panel_axes(
        'LMF = 1.5 LDAM + 1.0 focal ($\\gamma$=1.5, s=30, weights = '
        'margins; official code); HAM10000 counts')
    _log_scale(ax_loss, ax_grad)
    _ce_reference(ax_loss, ax_grad, log=True)
    rare = CLASSES[RARE]
    parts = (
        (LMF, RARE, f'LMF, true class {rare}', dict(color='C3')),
        (dict(LMF, focal_weight=0.0), RARE, f'1.5 LDAM part ({rare})',
         dict(color='C3', ls=':')),
        (dict(LMF, ldam_weight=0.0), RARE, f'1.0 focal part ({rare}, '
         '$a_y$=0.5)', dict(color='C2', ls='-.')),
        (LMF, COMMON, f'LMF, true class {CLASSES[COMMON]}', dict(color='C0')),
    )
    for cfg, target, label, style in parts:
        value, grad = loss_curve(build(cfg), target=target)
        _plot(ax_loss, ax_grad, P_GRID, (value, -grad), label, **style)
    return _save(fig, ax_loss, out_dir, 'lmf.png', dpi)


def cosine_curves(cos=None, target=RARE):
    """LMF's two terms as functions of the true-class cosine (the others
    0) under :class:`CosineClsHead` with ``scale=1``: returns
    ``cos, {name: (value, d/dcos_y)}``."""
    cos = np.round(np.linspace(-1, 1, 201), 6) if cos is None else cos
    logits = torch.zeros(len(cos), len(COUNTS), dtype=torch.float64)
    logits[:, target] = torch.as_tensor(cos, dtype=torch.float64)
    curves = {
        '1.5 LDAM part (s=30 on cosines)': loss_curve(
            build(dict(LMF, focal_weight=0.0)), target=target,
            logits=logits),
        '1.0 focal part (unscaled cosines)': loss_curve(
            build(dict(LMF, ldam_weight=0.0)), target=target, logits=logits),
    }
    return cos, curves


def figure_cosine(out_dir, dpi):
    cos, curves = cosine_curves()
    fig, ax_loss, ax_grad = _panel_axes(
        'LMF on CosineClsHead (scale=1): true class df ($\\Delta$=0.5), '
        'other cosines 0', xlabel='true-class cosine $\\cos\\theta_y$')
    _log_scale(ax_loss, ax_grad, r'\partial L / \partial \cos\theta_y')
    for (label, curve), color in zip(curves.items(), ('C3', 'C2')):
        _plot(ax_loss, ax_grad, cos, (curve[0], -curve[1]), label,
              color=color)
    return _save(fig, ax_loss, out_dir, 'cosine_head_lmf.png', dpi)


def import_loss_modules():
    """Import every module of ``lmfloss_mm.models.losses`` (registers losses
    that the package ``__init__`` does not import yet)."""
    package = importlib.import_module('lmfloss_mm.models.losses')
    for info in pkgutil.iter_modules(package.__path__):
        try:
            importlib.import_module(f'{package.__name__}.{info.name}')
        except Exception as error:  # someone else's work in progress
            print(f'skipped module {info.name}: {error!r}')


def other_losses():
    """``{name: class}`` of the project's registered losses without a
    dedicated figure."""
    found = {}
    for name, cls in MODELS.module_dict.items():
        if inspect.isclass(cls) and cls.__module__.startswith(
                'lmfloss_mm.models.losses') and name not in KNOWN:
            found[name] = cls
    return dict(sorted(found.items()))


def build_default(cls):
    """The loss with its defaults (and ``COUNTS`` if it takes counts), or
    None when it has another required argument."""
    params = inspect.signature(cls.__init__).parameters
    kwargs = {}
    if 'cls_num_list' in params:
        kwargs['cls_num_list'] = list(COUNTS)
    for name, param in params.items():
        if name in ('self', *kwargs) or param.kind in (
                param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty:
            return None
    return cls(**kwargs)


def snake(name):
    return re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', name).lower()


def sigmoid_curves(loss, p=P_GRID, num_classes=len(COUNTS)):
    """Element-wise (multi-label, sigmoid) losses: value and gradient of the
    element of a positive label and of a negative label, each against its
    own sigmoid probability ``p`` (logit ``log(p / (1 - p))``); the other
    elements have logit 0 and label 0, and do not affect these two."""
    logits = torch.zeros(len(p), num_classes, dtype=torch.float64)
    logit = torch.logit(torch.as_tensor(p, dtype=torch.float64))
    logits[:, 0] = logit  # positive label
    logits[:, 1] = logit  # negative label
    logits.requires_grad_(True)
    target = torch.zeros(len(p), num_classes, dtype=torch.float64)
    target[:, 0] = 1
    value = loss(logits, target, reduction_override='none')
    value.sum().backward()
    value = value.detach().numpy()
    grad = logits.grad.numpy()
    return {'positive label': (value[:, 0], grad[:, 0]),
            'negative label': (value[:, 1], grad[:, 1])}


def figure_other(name, cls, out_dir, dpi):
    loss = build_default(cls)
    if loss is None:
        print(f'skipped {name}: it has a required argument')
        return None
    notes = ['defaults']
    if 'cls_num_list' in inspect.signature(cls.__init__).parameters:
        notes.append('HAM10000 counts')
    try:
        probe = loss(logits_for_p([0.5]), torch.zeros(1, dtype=torch.long),
                     reduction_override='none')
        if probe.dim() == 2:  # element-wise: a multi-label sigmoid loss
            curves = sigmoid_curves(loss)
            fig, ax_loss, ax_grad = _panel_axes(
                f'{name} ({", ".join(notes)}), per element',
                xlabel='sigmoid probability $p$ of the element')
            ax_grad.set_title(r'gradient $\partial L / \partial z$',
                              fontsize=9)
            bce = sigmoid_curves(build(dict(CE, use_sigmoid=True)))
            _plot(ax_loss, ax_grad, P_GRID, bce['positive label'],
                  'BCE, positive', color='0.45', ls='--')
            _plot(ax_loss, ax_grad, P_GRID, bce['negative label'],
                  'BCE, negative', color='0.45', ls=':')
            for (label, curve), color in zip(curves.items(), ('C3', 'C0')):
                _plot(ax_loss, ax_grad, P_GRID, curve, label, color=color)
        else:
            curves = {target: loss_curve(loss, target=target)
                      for target in (RARE, COMMON)}
            fig, ax_loss, ax_grad = _panel_axes(f'{name} ({", ".join(notes)})')
            _ce_reference(ax_loss, ax_grad)
            for target, color in ((RARE, 'C3'), (COMMON, 'C0')):
                _plot(ax_loss, ax_grad, P_GRID, curves[target],
                      f'true class {CLASSES[target]} (n={COUNTS[target]})',
                      color=color)
    except Exception as error:  # someone else's work in progress
        print(f'skipped {name}: {error!r}')
        plt.close('all')
        return None
    return _save(fig, ax_loss, out_dir, f'{snake(name)}.png', dpi)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', default=str(REPO / 'docs' / 'figures'))
    parser.add_argument('--dpi', type=int, default=90)
    parser.add_argument('--no-others', action='store_true',
                        help='only the CE/focal/LDAM/LMF/cosine figures')
    args = parser.parse_args(argv)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(True)
    paths = [figure(args.out_dir, args.dpi) for figure in (
        figure_ce, figure_focal, figure_ldam, figure_lmf, figure_cosine)]
    if not args.no_others:
        import_loss_modules()
        for name, cls in other_losses().items():
            paths.append(figure_other(name, cls, args.out_dir, args.dpi))
    paths = [p for p in paths if p is not None]
    for path in paths:
        print(f'{path} ({path.stat().st_size // 1024} KB)')
    return paths


if __name__ == '__main__':
    main()
