from .set_class_counts_hook import (SetClassCountsHook, count_classes,
                                    dataset_labels, unwrap_dataset)

__all__ = ['SetClassCountsHook', 'count_classes', 'dataset_labels',
           'unwrap_dataset']
