"""``CompactLogProcessor``: end-of-evaluation log lines with scalars only."""
from collections import OrderedDict

import numpy as np
import torch
from mmengine.runner import LogProcessor
from mmpretrain.registry import LOG_PROCESSORS

#: Metric values left out of the log line (per-class lists, matrices).
ARRAY_TYPES = (list, tuple, np.ndarray, torch.Tensor)


@LOG_PROCESSORS.register_module()
class CompactLogProcessor(LogProcessor):
    """MMEngine's ``LogProcessor`` whose validation and test log lines
    leave out list- and array-valued metrics.

    MMEngine prints every metric of an evaluation on one line, so per-class
    lists and confusion matrices make it hundreds of characters long.  This
    processor prints the scalars only; the lists stay in the message hub
    and, after testing, in the JSON log (``<timestamp>.json``) exactly as
    with ``LogProcessor``, for the tools that read them.
    ``ImbalancedClsMetric`` logs them as a per-class table instead.

    Enable it in a config (the project's runtime does) with::

        log_processor = dict(type='CompactLogProcessor')

    Args:
        **kwargs: The arguments of :class:`mmengine.runner.LogProcessor`
            (``window_size``, ``by_epoch``, ``custom_cfg``, ``num_digits``,
            ``log_with_hierarchy``, ``mean_pattern``).
    """

    def _collect_non_scalars(self, runner, mode: str) -> OrderedDict:
        """The non-scalar infos of ``mode`` that go on the log line: all
        but lists and arrays."""
        infos = super()._collect_non_scalars(runner, mode)
        return OrderedDict((k, v) for k, v in infos.items()
                           if not isinstance(v, ARRAY_TYPES))

    def get_log_after_epoch(self, runner, batch_idx: int, mode: str,
                            with_non_scalar: bool = False):
        """The log line without list-valued metrics, and the tag (written to
        the JSON log) with all of them when ``with_non_scalar``."""
        tag, log_str = super().get_log_after_epoch(runner, batch_idx, mode,
                                                   with_non_scalar)
        if with_non_scalar:
            tag.update(super()._collect_non_scalars(runner, mode))
        return tag, log_str
