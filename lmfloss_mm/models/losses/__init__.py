from .base import ClassCountsLoss
from .ldam_loss import LDAMLoss, ldam_loss
from .lmf_loss import LMFLoss
from .robust_asymmetric_loss import (RobustAsymmetricLoss,
                                     robust_asymmetric_loss)
from .softmax_focal_loss import SoftmaxFocalLoss, softmax_focal_loss
from .utils import check_class_counts, class_weights_from_counts, ldam_margins

__all__ = [
    'ClassCountsLoss', 'SoftmaxFocalLoss', 'softmax_focal_loss', 'LDAMLoss',
    'ldam_loss', 'LMFLoss', 'RobustAsymmetricLoss', 'robust_asymmetric_loss',
    'check_class_counts', 'class_weights_from_counts', 'ldam_margins'
]
