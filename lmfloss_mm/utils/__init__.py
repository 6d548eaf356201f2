"""Helpers shared by the package: filters for known dependency warnings."""
from .dependency_warnings import (DEPENDENCY_LOG_MESSAGES,
                                  DEPENDENCY_WARNINGS, DependencyLogFilter,
                                  KnownWarning, filter_dependency_warnings)

__all__ = [
    'DEPENDENCY_LOG_MESSAGES', 'DEPENDENCY_WARNINGS', 'DependencyLogFilter',
    'KnownWarning', 'filter_dependency_warnings'
]
