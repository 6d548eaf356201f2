from .deferred_reweighting_hook import DeferredReweightingHook
from .set_class_counts_hook import (SetClassCountsHook, count_classes,
                                    dataset_labels, unwrap_dataset)

__all__ = [
    'SetClassCountsHook', 'DeferredReweightingHook', 'count_classes',
    'dataset_labels', 'unwrap_dataset'
]
