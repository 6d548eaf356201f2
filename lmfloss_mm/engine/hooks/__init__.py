from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from .check_data_hook import CheckDataHook
from .check_split_overlap_hook import CheckSplitOverlapHook
from .deferred_reweighting_hook import DeferredReweightingHook
from .dependency_log_filter_hook import DependencyLogFilterHook
from .max_norm_hook import MaxNormHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .second_stage_hook import SecondStageHook
from .set_class_counts_hook import SetClassCountsHook

__all__ = [
    'CheckSplitOverlapHook', 'DependencyLogFilterHook',
    'SetClassCountsHook', 'DeferredReweightingHook', 'AtomicCheckpointHook',
    'AtomicLocalBackend', 'NonFiniteLossHook', 'NonFiniteLossError',
    'CheckDataHook', 'SecondStageHook', 'MaxNormHook'
]
