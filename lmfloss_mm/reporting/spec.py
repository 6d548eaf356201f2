"""The grid: which configs, which seeds, and how each config is labelled.

Config names follow the project's convention (MMPretrain's
``{algorithm}_{pretrain}_{training}_{data}`` scheme)::

    {backbone}_{pretrain}_{gpus}xb{batch}-{loss}-{epochs}e_{dataset}.py
    resnet50_in1k-pre_1xb32-lmf-100e_ham10000.py
    efficientnetv2-s_in1k-pre_1xb32-ldam-drw-100e_odir5k.py

Labels (dataset / backbone / loss) are read from the config itself
(:func:`config_labels`); the file name is the fallback, and refines a
config label it extends (``ldam`` → ``ldam-drw``, ``lmf`` → ``lmf-cos``,
``odir5k`` → ``odir5k-image``).
"""
import argparse
import glob
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

from mmengine.config import Config, DictAction

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

#: Loss classes (``model.head.loss.type``) and their short labels.
LOSS_LABELS = {
    'CrossEntropyLoss': 'ce',
    'SoftmaxFocalLoss': 'focal',
    'LDAMLoss': 'ldam',
    'LMFLoss': 'lmf',
    'WeightedCrossEntropyLoss': 'wce',
    'ClassBalancedLoss': 'cb',
    'LogitAdjustedLoss': 'la',
    'FocalLoss': 'sigmoid-focal',
    'LabelSmoothLoss': 'ls',
}

#: Hooks whose presence adds a suffix to the loss label.
HOOK_SUFFIXES = {'DeferredReweightingHook': 'drw', 'DRWHook': 'drw'}

#: Dataset wrappers: the labelled dataset is their ``dataset`` entry.
_WRAPPER_KEYS = ('dataset', )

_ARCH_ALIASES = {'small': 's', 'medium': 'm', 'large': 'l'}


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: a config trained and tested with one seed."""
    config: str
    seed: int
    work_root: str

    @property
    def stem(self) -> str:
        return config_stem(self.config)

    @property
    def run_dir(self) -> str:
        """``<work-root>/<config-stem>/seed-<seed>``."""
        return osp.join(self.work_root, self.stem, f'seed-{self.seed}')


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


def select_configs(config_dir: str,
                   datasets: Optional[Sequence[str]] = None,
                   backbones: Optional[Sequence[str]] = None,
                   losses: Optional[Sequence[str]] = None) -> List[str]:
    """Configs ``<config_dir>/<dataset>/*.py`` whose name fields match.

    ``None`` (or an empty list) selects every value of that field. Names
    that do not follow the convention are never selected. The result is
    sorted by dataset, backbone, loss as given on the command line.
    """
    wanted = dict(dataset=datasets, backbone=backbones, loss=losses)
    found = []
    for path in glob.glob(osp.join(config_dir, '*', '*.py')):
        if osp.basename(osp.dirname(path)) == '_base_':
            continue
        fields = parse_config_name(path)
        if fields is None:
            continue
        if all(not values or fields[key] in values
               for key, values in wanted.items()):
            found.append((path, fields))

    def order(item):
        path, fields = item
        key = []
        for name, values in wanted.items():
            values = list(values or [])
            key.append(values.index(fields[name]) if fields[name] in values
                       else len(values))
            key.append(fields[name])
        return key + [path]

    return [path for path, _ in sorted(found, key=order)]


def expand_config_args(items: Iterable[str]) -> List[str]:
    """Config files from paths, globs and folders, in the order given,
    without duplicates. A folder means every ``*.py`` below it except
    ``_base_`` folders. Raises ``FileNotFoundError`` for a path or pattern
    that matches nothing."""
    configs = []
    for item in items:
        if osp.isdir(item):
            matches = [
                p for p in sorted(glob.glob(
                    osp.join(item, '**', '*.py'), recursive=True))
                if '_base_' not in p.split(os.sep)
            ]
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
        else:
            matches = [item] if osp.isfile(item) else []
        if not matches:
            raise FileNotFoundError(f'no config matches {item!r}')
        configs.extend(m for m in matches if m not in configs)
    return configs


def build_grid(configs: Sequence[str], seeds: Sequence[int],
               work_root: str) -> List[RunSpec]:
    """Runs in seed-major order (every config with the first seed, then the
    next seed, ...), so that a partly finished grid is a complete table with
    fewer seeds. Raises ``ValueError`` when two configs share a file name
    (their runs would share a folder)."""
    stems, unique = {}, []
    for path in configs:
        other = stems.setdefault(config_stem(path), path)
        if osp.abspath(other) != osp.abspath(path):
            raise ValueError(f'{other} and {path} have the same name; their '
                             'runs would share a work folder')
        if not any(osp.abspath(p) == osp.abspath(path) for p in unique):
            unique.append(path)
    return [
        RunSpec(config=path, seed=seed, work_root=work_root)
        for seed in dict.fromkeys(seeds) for path in unique
    ]


def parse_cfg_options(options: Optional[Sequence[str]]) -> dict:
    """``['a.b=1', 'c=[1,2]']`` → dict, exactly as MMEngine's
    ``--cfg-options`` (``DictAction``) parses them."""
    if not options:
        return {}
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def load_config(path: str, cfg_options: Optional[Sequence[str]] = None):
    """``Config.fromfile`` with the ``--cfg-options`` merged in."""
    cfg = Config.fromfile(path)
    merged = parse_cfg_options(cfg_options)
    if merged:
        cfg.merge_from_dict(merged)
    return cfg


def _get(cfg, *keys):
    for key in keys:
        if cfg is None:
            return None
        try:
            cfg = cfg.get(key)
        except AttributeError:
            return None
    return cfg


def dataset_label(cfg) -> Optional[str]:
    """Label of ``train_dataloader.dataset`` (wrappers unwrapped) when it is
    one of the project's datasets, else ``None``."""
    dataset = _get(cfg, 'train_dataloader', 'dataset')
    while dataset is not None and dataset.get('type') not in DATASET_LABELS:
        inner = None
        for key in _WRAPPER_KEYS:
            if isinstance(dataset.get(key), dict):
                inner = dataset.get(key)
        dataset = inner
    return None if dataset is None else DATASET_LABELS[dataset['type']]


def backbone_label(cfg) -> Optional[str]:
    """``resnet50``, ``efficientnetv2-s``, ``densenet121``... from
    ``model.backbone`` (``type`` + ``depth`` / ``arch``), else ``None``."""
    backbone = _get(cfg, 'model', 'backbone')
    if not backbone or not isinstance(backbone.get('type'), str):
        return None
    name = backbone['type'].split('.')[-1]
    family = name.lower()
    depth, arch = backbone.get('depth'), backbone.get('arch')
    if family.startswith('resnet') and depth is not None:
        return f'{family}{depth}'
    if isinstance(arch, str):
        arch = _ARCH_ALIASES.get(arch, arch)
        if family.startswith('densenet') or family.startswith('vgg'):
            return f'{family}{arch}'
        return f'{family}-{arch}'
    return None


def loss_label(cfg) -> Optional[str]:
    """Short label of ``model.head.loss.type`` (see :data:`LOSS_LABELS`),
    with ``-drw`` when a deferred re-weighting hook is configured, else
    ``None`` for a loss type this module does not know."""
    loss = _get(cfg, 'model', 'head', 'loss')
    loss_type = loss.get('type') if isinstance(loss, dict) else None
    if not isinstance(loss_type, str):
        return None
    label = LOSS_LABELS.get(loss_type.split('.')[-1])
    if label is None:
        return None
    for hook in cfg.get('custom_hooks', None) or []:
        suffix = HOOK_SUFFIXES.get(str(hook.get('type', '')).split('.')[-1])
        if suffix and not label.endswith(f'-{suffix}'):
            label = f'{label}-{suffix}'
    return label


def config_labels(cfg, path: str) -> Dict[str, str]:
    """``dict(dataset=, backbone=, loss=)`` of a loaded config.

    Each label comes from the config when its type is known
    (:data:`DATASET_LABELS`, :func:`backbone_label`, :data:`LOSS_LABELS`),
    else from the file name (:func:`parse_config_name`), else from the raw
    type name. A field of the file name wins when it extends the config's
    label (``ldam`` → ``ldam-drw``, ``lmf`` → ``lmf-cos``, ``odir5k`` →
    ``odir5k-image``, ``resnet18`` → ``resnet18-w16``), because names
    encode variants the types alone do not.
    """
    fields = parse_config_name(path) or {}
    labels = dict(dataset=dataset_label(cfg), backbone=backbone_label(cfg),
                  loss=loss_label(cfg))
    for key, label in labels.items():
        name = fields.get(key)
        if label and name and name.startswith(label + '-'):
            labels[key] = name
    raw = dict(
        dataset=_get(cfg, 'train_dataloader', 'dataset', 'type'),
        backbone=_get(cfg, 'model', 'backbone', 'type'),
        loss=_get(cfg, 'model', 'head', 'loss', 'type'))
    for key in labels:
        if not labels[key]:
            labels[key] = fields.get(key) or str(raw[key] or 'unknown').lower()
    return labels
