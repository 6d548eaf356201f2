from .base import ClassCountsLoss
from .class_balanced_loss import ClassBalancedLoss, WeightedCrossEntropyLoss
from .detachable_asymmetric_loss import (DetachableAsymmetricLoss,
                                         detachable_asymmetric_loss)
from .label_aware_smoothing_loss import (LabelAwareSmoothingLoss,
                                         label_aware_smoothing)
from .ldam_loss import LDAMLoss, ldam_loss
from .lmf_loss import LMFLoss
from .logit_adjusted_loss import LogitAdjustedLoss, logit_adjusted_loss
from .robust_asymmetric_loss import (RobustAsymmetricLoss,
                                     robust_asymmetric_loss)
from .softmax_focal_loss import SoftmaxFocalLoss, softmax_focal_loss
from .utils import (check_class_counts, class_weights_from_counts,
                    effective_number_weights, ldam_margins)

__all__ = [
    'ClassCountsLoss', 'SoftmaxFocalLoss', 'softmax_focal_loss', 'LDAMLoss',
    'ldam_loss', 'LMFLoss', 'WeightedCrossEntropyLoss', 'ClassBalancedLoss',
    'LogitAdjustedLoss', 'logit_adjusted_loss', 'RobustAsymmetricLoss',
    'robust_asymmetric_loss', 'check_class_counts',
    'class_weights_from_counts', 'effective_number_weights', 'ldam_margins',
    'DetachableAsymmetricLoss', 'detachable_asymmetric_loss',
    'LabelAwareSmoothingLoss', 'label_aware_smoothing'
]
