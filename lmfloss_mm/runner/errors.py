"""Errors raised by :mod:`lmfloss_mm.runner.safe_load`."""
import pickle


class UnsafePickleError(pickle.UnpicklingError):
    """The file needs an object, attribute or pickle instruction that the
    restricted loader does not allow. It was not loaded, and nothing it
    refers to was called."""


class UnreadableFileError(ValueError):
    """The file is empty, truncated, damaged, in a format the restricted
    loader cannot read, or not a file of the expected kind."""
