"""Published numbers of the LMF paper that our tables are compared with.

Only numbers with a stated source belong here; none may be guessed or
read off a figure. Labels are the grid's (see
:mod:`lmfloss_mm.results.labels`): dataset ``ham10000`` / ``isic2019`` /
``odir5k``, backbone ``resnet50`` / ``efficientnetv2-s``, loss ``ce`` /
``focal`` / ``ldam`` / ``lmf``; ``metric`` is an ``ImbalancedClsMetric``
key without its prefix; values are percentages on the test split.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

#: Where the numbers below come from.
LMF_PAPER = (
    'Sadi et al., "LMFLOSS: A Hybrid Loss For Imbalanced Medical Image '
    'Classification", arXiv:2212.12741, results text on ODIR-5K (the '
    'paper\'s tables are not transcribed in this repository; check them '
    'against the PDF before citing)')


@dataclass(frozen=True)
class PublishedResult:
    """One published number for one grid cell."""
    dataset: str
    backbone: str
    loss: str
    metric: str
    value: float
    source: str


#: Every published number known to the project.
PUBLISHED: Tuple[PublishedResult, ...] = (
    PublishedResult('odir5k', 'efficientnetv2-s', 'lmf', 'macro_f1', 62.94,
                    LMF_PAPER),
    PublishedResult('odir5k', 'resnet50', 'lmf', 'macro_f1', 57.73,
                    LMF_PAPER),
)


def published_value(dataset: str, backbone: str, loss: str,
                    metric: str) -> Optional[float]:
    """The published number of one cell, or ``None`` if none is known."""
    for result in PUBLISHED:
        if (result.dataset, result.backbone, result.loss,
                result.metric) == (dataset, backbone, loss, metric):
            return result.value
    return None
