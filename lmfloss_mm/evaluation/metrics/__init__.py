from .imbalanced_cls_metric import ImbalancedClsMetric

__all__ = ['ImbalancedClsMetric']
