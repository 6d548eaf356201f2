"""How runs are labelled and ordered in tables and figures.

A run is labelled by ``dataset``, ``backbone`` and ``loss``
(:func:`config_labels`).  A config named in the project's naming
convention (MMPretrain's ``{algorithm}_{pretrain}_{training}_{data}``
scheme) names its method in the loss field, which is the loss label; the
dataset and backbone labels are read from the config, and the name
refines a label it extends::

    {backbone}_{pretrain}_{gpus}xb{batch}-{loss}-{epochs}e_{dataset}.py
    resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py            -> lmf
    efficientnetv2-s_in1k-pre_1xb32-ldam-drw-100e_odir5k.py  -> ldam-drw
    resnet50_in1k-pre_1xb32-mixup-balanced-softmax-100e_ham10000.py
                                               -> mixup-balanced-softmax

A config with another name gets its loss label from its loss type
(:data:`LOSS_LABELS`, with ``-drw`` for a deferred re-weighting hook).

Tables and figures order labels with :func:`ordered` (:data:`LOSS_ORDER`
etc.: known labels first, each followed by its variants) and print them
with :func:`display`.
"""
import os.path as osp
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

__all__ = [
    'CONFIG_NAME_RE', 'DATASET_LABELS', 'LOSS_LABELS', 'PAPER_LOSSES',
    'LOSS_ORDER',
    'DATASET_ORDER', 'BACKBONE_ORDER', 'DISPLAY_NAMES', 'LOSS_DESCRIPTIONS',
    'config_stem', 'parse_config_name', 'config_labels', 'display',
    'describe_loss', 'ordered'
]

#: ``{backbone}_{pretrain}_{gpus}xb{batch}-{loss}-{epochs}e_{dataset}``.
CONFIG_NAME_RE = re.compile(
    r'^(?P<backbone>[^_]+)_(?P<pretrain>[^_]+)_(?P<gpus>\d+)xb(?P<batch>\d+)'
    r'-(?P<loss>.+)-(?P<epochs>\d+e)_(?P<dataset>[^_]+)$')

#: Dataset classes of this project (``train_dataloader.dataset.type``).
DATASET_LABELS = {
    'HAM10000': 'ham10000',
    'ISIC2019': 'isic2019',
    'ODIR5K': 'odir5k',
}

#: Loss classes (``model.head.loss.type``) and their short labels, for
#: configs whose name does not follow the naming convention.
LOSS_LABELS = {
    'CrossEntropyLoss': 'ce',
    'SoftmaxFocalLoss': 'focal',
    'LDAMLoss': 'ldam',
    'LMFLoss': 'lmf',
    'WeightedCrossEntropyLoss': 'wce',
    'ClassBalancedLoss': 'cb',
    'LogitAdjustedLoss': 'la',
    'LabelAwareSmoothingLoss': 'las',
    'FocalLoss': 'sigmoid-focal',
    'LabelSmoothLoss': 'ls',
    'DetachableAsymmetricLoss': 'asl',
    'RobustAsymmetricLoss': 'ral',
}
#: Label of ``CrossEntropyLoss(use_sigmoid=True)`` (binary cross-entropy).
SIGMOID_CE_LABEL = 'bce'

#: Hooks whose presence adds a suffix to the loss label.
HOOK_SUFFIXES = {'DeferredReweightingHook': 'drw', 'DRWHook': 'drw'}

#: Row and column order; labels not listed come after them, sorted.
DATASET_ORDER = ('ham10000', 'isic2019', 'odir5k')
BACKBONE_ORDER = ('resnet50', 'efficientnetv2-s')
#: The paper's four losses, in report order (their labels are those of the
#: published tables).
PAPER_LOSSES = ('ce', 'focal', 'ldam', 'lmf')
#: Every loss label of the shipped configs, of :data:`LOSS_LABELS` and of
#: the benchmark's post-hoc method, in table order: the paper's losses,
#: each with its variants, then the re-weighting and logit-adjusted losses,
#: then the multi-label losses.
LOSS_ORDER = (
    'ce', 'ce-posthoc-la',  # CE; post-hoc logit adjustment of its runs
    'ce-cas', 'ce-sqrt', 'ce-wb', 'mixup-ce',  # re-sampling, Mixup
    'ce-crt', 'ce-lws', 'ce-taunorm', 'ce-wb-maxnorm',  # decoupled stage 2
    'mixup-ce-mislas', 'las',
    'focal', 'sigmoid-focal',
    'ldam', 'ldam-cos', 'ldam-drw',
    'lmf', 'lmf-cos', 'lmf-drw',
    'balanced-softmax', 'mixup-balanced-softmax', 'cutmix-balanced-softmax',
    'la', 'cb-focal', 'cb', 'wce-bwcce', 'wce', 'ls',
    SIGMOID_CE_LABEL, 'asl', 'ral')

#: How labels are printed in Markdown (CSV files keep the labels).
DISPLAY_NAMES = {
    'ham10000': 'HAM10000',
    'isic2019': 'ISIC-2019',
    'odir5k': 'ODIR-5K',
    'resnet50': 'ResNet-50',
    'efficientnetv2-s': 'EfficientNetV2-S',
    'ce': 'CE',
    'focal': 'Focal',
    'ldam': 'LDAM',
    'lmf': 'LMF',
    'bce': 'BCE',
    'asl': 'ASL',
    'ral': 'RAL',
    'mixup': 'Mixup',
    'cutmix': 'CutMix',
}

#: The paper configs' losses with their settings, for reports that compare
#: losses with each other (the paired report).
LOSS_DESCRIPTIONS = {
    'ce': 'cross-entropy',
    'focal': 'focal (γ 1.5, margin weights)',
    'ldam': 'LDAM (max_m 0.5, s 30, margin weights)',
    'lmf': 'LMF (1.5 LDAM + 1.0 focal)',
}

#: Dataset wrappers: the labelled dataset is their ``dataset`` entry.
_WRAPPER_KEYS = ('dataset', )
_ARCH_ALIASES = {'small': 's', 'medium': 'm', 'large': 'l'}


def config_stem(path: str) -> str:
    """File name of a config without folder and ``.py``."""
    return osp.splitext(osp.basename(path))[0]


def parse_config_name(path: str) -> Optional[Dict[str, str]]:
    """Fields of a config name that follows the naming convention, else
    ``None``.

    >>> parse_config_name('configs/odir5k/'
    ...     'resnet50_in1k-pre_1xb32-ldam-drw-100e_odir5k.py')['loss']
    'ldam-drw'
    """
    match = CONFIG_NAME_RE.match(config_stem(path))
    return match.groupdict() if match else None


def _is_map(value) -> bool:
    """A dict, ``ConfigDict`` or ``mmengine.Config``."""
    return isinstance(value, Mapping) or callable(getattr(value, 'get', None))


def _get(cfg, *keys):
    for key in keys:
        if not _is_map(cfg):
            return None
        cfg = cfg.get(key)
    return cfg


def _dataset_label(cfg) -> Optional[str]:
    dataset = _get(cfg, 'train_dataloader', 'dataset')
    while _is_map(dataset) and dataset.get('type') not in DATASET_LABELS:
        inner = None
        for key in _WRAPPER_KEYS:
            if _is_map(dataset.get(key)):
                inner = dataset.get(key)
        dataset = inner
    if not _is_map(dataset):
        return None
    return DATASET_LABELS[dataset['type']]


def _backbone_label(cfg) -> Optional[str]:
    backbone = _get(cfg, 'model', 'backbone')
    if not _is_map(backbone) or not isinstance(backbone.get('type'), str):
        return None
    family = backbone['type'].split('.')[-1].lower()
    depth, arch = backbone.get('depth'), backbone.get('arch')
    if family.startswith('resnet') and depth is not None:
        return f'{family}{depth}'
    if isinstance(arch, str):
        arch = _ARCH_ALIASES.get(arch, arch)
        if family.startswith('densenet') or family.startswith('vgg'):
            return f'{family}{arch}'
        return f'{family}-{arch}'
    return None


def _loss_label(cfg) -> Optional[str]:
    loss = _get(cfg, 'model', 'head', 'loss')
    loss_type = loss.get('type') if _is_map(loss) else None
    if not isinstance(loss_type, str):
        return None
    label = LOSS_LABELS.get(loss_type.split('.')[-1])
    if label is None:
        return None
    if label == 'ce' and loss.get('use_sigmoid'):
        label = SIGMOID_CE_LABEL
    for hook in _get(cfg, 'custom_hooks') or []:
        hook_type = hook.get('type', '') if _is_map(hook) else ''
        suffix = HOOK_SUFFIXES.get(str(hook_type).split('.')[-1])
        if suffix and not label.endswith(f'-{suffix}'):
            label = f'{label}-{suffix}'
    return label


def config_labels(cfg: Optional[Mapping], path: str) -> Dict[str, str]:
    """``dict(dataset=, backbone=, loss=)`` of a config.

    The loss label is the loss field of a name in the naming convention
    (:func:`parse_config_name`): the configs name their method there
    (``lmf-drw``, ``mixup-ce``, ``ce-wb-maxnorm``), which the loss type
    alone does not tell apart.  The other labels, and the loss label of a
    config with another name, come from the config when its type is known
    (:data:`DATASET_LABELS`; ``model.backbone`` ``type`` + ``depth`` /
    ``arch``; :data:`LOSS_LABELS`, ``bce`` for ``CrossEntropyLoss(
    use_sigmoid=True)``, with ``-drw`` when a deferred re-weighting hook is
    configured), else from the file name, else from the raw type name,
    else ``'unknown'``.  A dataset or backbone field of the file name wins
    when it extends the config's label (``odir5k`` → ``odir5k-image``,
    ``resnet18`` → ``resnet18-w16``).

    Args:
        cfg (Mapping, optional): The loaded config (an ``mmengine.Config``
            or a plain dict); None to label from the name alone.
        path (str): The config's file name.
    """
    fields = parse_config_name(path) or {}
    labels = dict(dataset=_dataset_label(cfg), backbone=_backbone_label(cfg),
                  loss=_loss_label(cfg))
    for key, label in labels.items():
        name = fields.get(key)
        if name and (key == 'loss' or label and name.startswith(label + '-')):
            labels[key] = name
    raw = dict(
        dataset=_get(cfg, 'train_dataloader', 'dataset', 'type'),
        backbone=_get(cfg, 'model', 'backbone', 'type'),
        loss=_get(cfg, 'model', 'head', 'loss', 'type'))
    for key in labels:
        if not labels[key]:
            labels[key] = fields.get(key) or str(raw[key] or 'unknown').lower()
    return labels


def display(label: str) -> str:
    """Markdown name of a label: ``'odir5k'`` → ``'ODIR-5K'``,
    ``'lmf-cos'`` → ``'LMF-cos'``; unknown labels are kept."""
    if label in DISPLAY_NAMES:
        return DISPLAY_NAMES[label]
    head, sep, rest = label.partition('-')
    if sep and head in DISPLAY_NAMES:
        return f'{DISPLAY_NAMES[head]}-{rest}'
    return label


def describe_loss(label: str) -> str:
    """:data:`LOSS_DESCRIPTIONS` entry of a loss label, else the label."""
    return LOSS_DESCRIPTIONS.get(label, label)


def ordered(labels: Iterable[str], preferred: Sequence[str]) -> List[str]:
    """Unique labels, those of ``preferred`` first in its order, each
    followed by its variants (``'<known>-<variant>'`` or
    ``'<known> [<config>]'``, of the longest known label they extend)
    sorted; the other labels last, sorted.

    >>> ordered(['lmf', 'xyz', 'ldam-drw', 'ce', 'ldam-new', 'ldam'],
    ...         PAPER_LOSSES)
    ['ce', 'ldam', 'ldam-drw', 'ldam-new', 'lmf', 'xyz']
    """
    rank_of = {name: rank for rank, name in enumerate(preferred)}

    def key(label):
        if label in rank_of:
            return (rank_of[label], 0, label)
        extended = [name for name in rank_of
                    if label.startswith((name + '-', name + ' '))]
        if extended:
            return (rank_of[max(extended, key=len)], 1, label)
        return (len(preferred), 0, label)

    return sorted(dict.fromkeys(labels), key=key)
