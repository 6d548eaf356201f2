"""Keep MMEngine's own deprecation notices out of a run's log."""
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from lmfloss_mm.utils.dependency_warnings import DependencyLogFilter


@HOOKS.register_module()
class DependencyLogFilterHook(Hook):
    """Install :class:`~lmfloss_mm.utils.DependencyLogFilter` on the run's
    logger before anything else runs.

    MMEngine's ``CheckpointHook`` makes MMEngine log two deprecation notices
    about its own ``FileClient`` in every training run; they need no action
    from the user.  The filter drops exactly those messages (listed in
    :data:`~lmfloss_mm.utils.DEPENDENCY_LOG_MESSAGES`) and passes every
    other record.  The project's runtime enables it with::

        custom_hooks = [..., dict(type='DependencyLogFilterHook')]
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        logger = runner.logger
        if not any(isinstance(f, DependencyLogFilter) for f in logger.filters):
            logger.addFilter(DependencyLogFilter())
