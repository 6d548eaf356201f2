"""lmfloss-mm: class-imbalance losses, datasets and tools for MMPretrain.

Importing this package registers, in MMPretrain's registries:

* ``MODELS``: ``SoftmaxFocalLoss``, ``LDAMLoss``, ``LMFLoss``,
  ``WeightedCrossEntropyLoss``, ``ClassBalancedLoss``, ``LogitAdjustedLoss``,
  ``RobustAsymmetricLoss``, ``CosineClsHead``;
* ``HOOKS``: ``SetClassCountsHook`` (fills ``cls_num_list='auto'``),
  ``DeferredReweightingHook``;
* ``DATA_SAMPLERS``: ``ClassBalancedSampler``, ``ClassAwareSampler``,
  ``SqrtSampler``;
* ``DATASETS``: ``HAM10000``, ``ISIC2019``, ``ODIR5K``; ``TRANSFORMS``:
  ``LoadEyePair`` (both eyes of an ODIR-5K patient);
* ``METRICS``: ``ImbalancedClsMetric``;

and makes MMEngine's local checkpoint loader work on torch >= 2.6
(see :mod:`lmfloss_mm.runner.checkpoint`).  Configs enable it with::

    custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)
"""
from .version import __version__
from . import runner  # noqa: F401  (patches checkpoint loading first)
from . import datasets, engine, evaluation, models  # noqa: F401

__all__ = ['__version__']
