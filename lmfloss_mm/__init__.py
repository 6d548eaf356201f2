"""lmfloss-mm: class-imbalance losses, datasets and tools for MMPretrain.

Importing this package registers, in MMPretrain's registries:

* ``MODELS``: ``SoftmaxFocalLoss``, ``LDAMLoss``, ``LMFLoss``,
  ``WeightedCrossEntropyLoss``, ``ClassBalancedLoss``, ``LogitAdjustedLoss``,
  ``LabelAwareSmoothingLoss``, ``RobustAsymmetricLoss``,
  ``DetachableAsymmetricLoss``, ``CosineClsHead``, ``LWSClsHead``,
  ``TauNormClsHead``;
* ``HOOKS``: ``SetClassCountsHook`` (fills ``cls_num_list='auto'``),
  ``DeferredReweightingHook``, ``CheckSplitOverlapHook``,
  ``DependencyLogFilterHook``, ``AtomicCheckpointHook`` (crash-safe
  checkpoints), ``NonFiniteLossHook`` (stops at a NaN/Inf loss),
  ``SecondStageHook``, ``MaxNormHook``; ``LOG_PROCESSORS``:
  ``CompactLogProcessor``; ``LOOPS``: ``TauNormSweepLoop``;
* ``DATA_SAMPLERS``: ``ClassBalancedSampler``, ``ClassAwareSampler``,
  ``SqrtSampler``;
* ``DATASETS``: ``HAM10000``, ``ISIC2019``, ``ODIR5K``,
  ``CSVImageDataset``; ``TRANSFORMS``:
  ``LoadEyePair`` (both eyes of an ODIR-5K patient);
* ``METRICS``: ``ImbalancedClsMetric``, ``ODIRScore``;

filters the known, harmless warnings of its dependencies
(:mod:`lmfloss_mm.utils.dependency_warnings`) and makes MMEngine load local
and ``http(s)://`` checkpoints with a restricted unpickler that cannot run
code from the file (see :mod:`lmfloss_mm.runner.checkpoint`).  Configs
enable it with::

    custom_imports = dict(imports=['lmfloss_mm'], allow_failed_imports=False)
"""
from .version import __version__
from .utils import filter_dependency_warnings

filter_dependency_warnings()  # before the OpenMMLab imports that warn

from . import runner  # noqa: E402,F401  (patches checkpoint loading first)
from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
