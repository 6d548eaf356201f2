"""Known, harmless warnings of the OpenMMLab stack, in one place.

``import lmfloss_mm`` calls :func:`filter_dependency_warnings`, which adds
one ``warnings`` filter per entry of :data:`DEPENDENCY_WARNINGS`: an exact
message prefix (a regular expression matched at the start of the message)
and category, never a blanket ``ignore``, so every other warning, the
project's own included, is shown as before.  MMEngine prints two
deprecation notices through its logger rather than ``warnings``; they are
in :data:`DEPENDENCY_LOG_MESSAGES` and :class:`DependencyLogFilter` drops
them (``DependencyLogFilterHook`` installs it on a run's logger).

A warning emitted before ``lmfloss_mm`` is imported (e.g. while MMEngine
parses a config's ``mmpretrain::`` base, before ``custom_imports`` runs) is
still shown once.
"""
import logging
import warnings
from typing import NamedTuple, Tuple, Type


class KnownWarning(NamedTuple):
    """A dependency warning that is filtered, and why it is harmless.

    Attributes:
        message (str): Regular expression matched at the start of the
            warning message (``warnings.filterwarnings`` semantics; the
            same text is a ``filterwarnings`` line of ``pytest.ini``).
        category (type): The exact warning category.
        reason (str): Why it needs no action.
    """
    message: str
    category: Type[Warning]
    reason: str


_PKG_RESOURCES = r'pkg_resources is deprecated as an API'
_PKG_RESOURCES_REASON = (
    'MMEngine 0.10.7 resolves mmpretrain:: config bases with pkg_resources; '
    'setuptools < 82 (required by lmfloss-mm) still ships it')

#: The filtered ``warnings`` (setuptools 81 warns about pkg_resources with a
#: UserWarning, earlier releases with a DeprecationWarning).
DEPENDENCY_WARNINGS: Tuple[KnownWarning, ...] = (
    KnownWarning(_PKG_RESOURCES, UserWarning, _PKG_RESOURCES_REASON),
    KnownWarning(_PKG_RESOURCES, DeprecationWarning, _PKG_RESOURCES_REASON),
    KnownWarning(
        r'Fail to import ``MultiScaleDeformableAttention`` from '
        r'``mmcv\.ops\.multi_scale_deform_attn``', UserWarning,
        'mmcv-lite has no compiled ops; the MMPretrain classifiers used '
        'here never need them'),
    KnownWarning(
        r"'pin_memory' argument is set as true but no accelerator is found",
        UserWarning,
        'pinned memory only speeds up copies to a GPU; on a CPU-only '
        'machine PyTorch ignores it'),
)

#: Start of MMEngine log records (level WARNING) that :class:`
#: DependencyLogFilter` drops: the deprecation notices MMEngine's own
#: ``CheckpointHook`` triggers in every run.
DEPENDENCY_LOG_MESSAGES: Tuple[str, ...] = (
    '"FileClient" will be deprecated in future. Please use io functions',
    '"HardDiskBackend" is the alias of "LocalBackend" and the former will '
    'be deprecated in future.',
)


def filter_dependency_warnings() -> None:
    """Add a ``warnings`` filter (action ``ignore``) for every entry of
    :data:`DEPENDENCY_WARNINGS`; other warnings are unaffected.

    Calling it again adds nothing new: ``warnings.filterwarnings`` moves an
    identical filter to the front instead of repeating it.
    """
    for known in DEPENDENCY_WARNINGS:
        warnings.filterwarnings('ignore', message=known.message,
                                category=known.category)


class DependencyLogFilter(logging.Filter):
    """A ``logging.Filter`` that drops the WARNING records of
    :data:`DEPENDENCY_LOG_MESSAGES` and passes every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        message = record.getMessage()
        return not message.startswith(DEPENDENCY_LOG_MESSAGES)


__all__ = [
    'KnownWarning', 'DEPENDENCY_WARNINGS', 'DEPENDENCY_LOG_MESSAGES',
    'filter_dependency_warnings', 'DependencyLogFilter'
]
