from .imbalanced_cls_metric import ImbalancedClsMetric
from .odir_score import ODIRScore

__all__ = ['ImbalancedClsMetric', 'ODIRScore']
