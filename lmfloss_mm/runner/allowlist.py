"""The exact objects that MMEngine checkpoints and MMPretrain prediction
dumps refer to, and restricted stand-ins for the ones that are unsafe as
they are.

A pickle names the objects it needs as ``module.name`` strings. The
restricted loaders (:mod:`lmfloss_mm.runner.safe_load`) resolve a name only
when it is a key of one of the tables here, and get the object stored under
that key: nothing is imported and no attribute is looked up by name.

Three objects that MMEngine checkpoints need are replaced:

* ``builtins.getattr`` resolves to :func:`checkpoint_getattr`, which returns
  only the (class, attribute) pairs that real checkpoints contain. The
  unrestricted ``getattr`` would lead from any allowed class to its
  functions' ``__globals__`` and from there to the builtins.
* ``mmengine.logging.history_buffer.HistoryBuffer`` resolves to
  :class:`RestoredHistoryBuffer`, which checks the state it is given and
  then becomes a plain :class:`~mmengine.logging.HistoryBuffer`. MMEngine's
  own ``HistoryBuffer.__setstate__`` copies the file's statistics methods
  into a dict shared by the whole class, so a file could otherwise replace
  ``mean`` with ``max`` for the rest of the process.
* ``...param_scheduler.OneCycleParamScheduler`` resolves to a name token
  that can only be passed to :func:`checkpoint_getattr`: its state dict
  holds the annealing function, pickled as ``getattr(class, name)``.
"""
import contextvars
import types
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import HistoryBuffer
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler

from .errors import UnsafePickleError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

__all__ = [
    'ALLOWED_ATTRIBUTES', 'RestoredHistoryBuffer', 'checkpoint_getattr',
    'checkpoint_globals', 'numpy_globals', 'restore_scope'
]

HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'
ONE_CYCLE_SCHEDULER = (
    'mmengine.optim.scheduler.param_scheduler.OneCycleParamScheduler')


def numpy_globals() -> Dict[str, Any]:
    """Names of the objects that pickled numpy arrays, scalars and dtypes
    refer to. numpy 2 writes ``numpy._core``, numpy 1 ``numpy.core``; both
    names resolve to the installed objects."""
    table = {
        'numpy.ndarray': np.ndarray,
        'numpy.dtype': np.dtype,
        # protocol 2 writes empty bytes (the data of an empty array) as
        # bytes(); torch's unpickler allows bytearray but not bytes
        'builtins.bytes': bytes,
    }
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        table[f'{module}._reconstruct'] = _reconstruct
        table[f'{module}.scalar'] = scalar
    return table


def _numpy_dtype_classes() -> Dict[str, type]:
    """The class of every built-in dtype (``numpy.dtypes.Float64DType``...).
    A pickled dtype is rebuilt with ``numpy.dtype(...)`` and then given its
    state, which torch's unpickler allows only for listed classes."""
    classes = {type(np.dtype(code)) for code in np.typecodes['All'] + 'OSUV'}
    return {f'{cls.__module__}.{cls.__qualname__}': cls for cls in classes}


class _RestoreState:
    """Bookkeeping of one restricted load (see :func:`restore_scope`)."""

    def __init__(self):
        self.unbuilt: List['RestoredHistoryBuffer'] = []


_CURRENT_RESTORE: contextvars.ContextVar[Optional[_RestoreState]] = (
    contextvars.ContextVar('lmfloss_mm_restore_scope', default=None))


class restore_scope:
    """Context manager around one restricted load of a checkpoint.

    :class:`RestoredHistoryBuffer` objects can only be created inside it.
    On a clean exit it raises :class:`UnsafePickleError` if the file
    created a ``HistoryBuffer`` without giving it its state.
    """

    def __enter__(self) -> _RestoreState:
        self._restore_scope = _RestoreState()
        self._token = _CURRENT_RESTORE.set(self._restore_scope)
        return self._restore_scope

    def __exit__(self, exc_type, exc, tb) -> None:
        _CURRENT_RESTORE.reset(self._token)
        if exc_type is None and self._restore_scope.unbuilt:
            raise UnsafePickleError(
                'it creates a HistoryBuffer without its state; MMEngine '
                'always saves HistoryBuffer objects with their state')


_HISTORY_ARRAYS = ('_log_history', '_count_history')


def _checked_history_state(state: Any) -> Dict[str, Any]:
    """``state`` as MMEngine's ``HistoryBuffer.__getstate__`` writes it,
    else :class:`UnsafePickleError`. The statistics methods it names must be
    the ones this process already has under those names; they are dropped
    from the returned state, so nothing class-wide changes."""
    if type(state) is not dict:
        raise UnsafePickleError(
            f'it gives a HistoryBuffer a {type(state).__name__} as state; '
            'MMEngine writes a dict')
    expected = {'max_length', *_HISTORY_ARRAYS}
    if set(state) - {'statistics_methods'} != expected:
        raise UnsafePickleError(
            'it gives a HistoryBuffer the state keys '
            f'{sorted(map(str, state))}; MMEngine writes exactly '
            f'{sorted(expected)} and statistics_methods')
    if type(state['max_length']) is not int or state['max_length'] < 1:
        raise UnsafePickleError(
            f"it gives a HistoryBuffer max_length={state['max_length']!r}; "
            'a positive int is expected')
    for key in _HISTORY_ARRAYS:
        value = state[key]
        if (type(value) is not np.ndarray or value.ndim != 1
                or value.dtype.kind not in 'biuf'):
            raise UnsafePickleError(
                f'it gives a HistoryBuffer a {key} that is not a 1-d numeric '
                'numpy array')
    if len(state['_log_history']) != len(state['_count_history']):
        raise UnsafePickleError(
            'it gives a HistoryBuffer log and count histories of different '
            'lengths')
    methods = state.get('statistics_methods', {})
    if type(methods) is not dict:
        raise UnsafePickleError(
            'it gives a HistoryBuffer statistics_methods that are not a dict')
    registered = HistoryBuffer._statistics_methods
    for name, method in methods.items():
        if type(name) is not str or registered.get(name) is not method:
            raise UnsafePickleError(
                f'it maps the HistoryBuffer statistics method {name!r} to '
                'another function than the one registered in this process; '
                'HistoryBuffer statistics methods are shared by the whole '
                'class and a checkpoint may not replace them')
    return {key: value for key, value in state.items() if key in expected}


class RestoredHistoryBuffer(HistoryBuffer):
    """What the name ``mmengine.logging.history_buffer.HistoryBuffer``
    resolves to in a restricted load.

    The unpickler creates it empty (``NEWOBJ``) and hands it its state
    (``BUILD``); :meth:`__setstate__` checks that state
    (:func:`_checked_history_state`) and turns the object into a plain
    :class:`~mmengine.logging.HistoryBuffer`, equal to what MMEngine's own
    loading gives. Calling the class is refused.
    """

    def __new__(cls, *args, **kwargs):
        state = _CURRENT_RESTORE.get()
        if state is None:
            raise UnsafePickleError(
                'RestoredHistoryBuffer exists only inside a restricted load')
        if args or kwargs:
            raise UnsafePickleError(
                'it creates a HistoryBuffer with constructor arguments; '
                'MMEngine restores HistoryBuffer objects from their state')
        buffer = super().__new__(cls)
        state.unbuilt.append(buffer)
        return buffer

    def __init__(self, *args, **kwargs):
        raise UnsafePickleError(
            'it calls HistoryBuffer(...); MMEngine restores HistoryBuffer '
            'objects from their state')

    def __setstate__(self, state: Any) -> None:
        self._set_default_statistics()  # as HistoryBuffer.__setstate__ does
        checked = _checked_history_state(state)
        state = _CURRENT_RESTORE.get()
        if state is not None:
            state.unbuilt[:] = [b for b in state.unbuilt if b is not self]
        self.__class__ = HistoryBuffer
        HistoryBuffer.__setstate__(self, checked)


class _ClassToken:
    """Stands for a class that a checkpoint uses only as the owner in
    ``getattr(class, name)``; calling it or building it is refused."""

    __slots__ = ('name', )

    def __init__(self, name: str):
        object.__setattr__(self, 'name', name)

    def __setattr__(self, key, value):
        raise AttributeError(f'{self.name} token is read-only')

    def __setstate__(self, state):
        raise UnsafePickleError(f'it sets the state of {self.name}')

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError(
            f'it calls {self.name}; checkpoints only look up its '
            'annealing functions')

    def __repr__(self) -> str:
        return self.name


ONE_CYCLE_TOKEN = _ClassToken(ONE_CYCLE_SCHEDULER)

#: ``(owner, attribute, value)``: the only lookups :func:`checkpoint_getattr`
#: answers. MMEngine pickles ``HistoryBuffer``'s default statistics methods
#: and ``OneCycleParamScheduler``'s annealing function this way.
ALLOWED_ATTRIBUTES: Tuple[Tuple[Any, str, Any], ...] = tuple(
    (RestoredHistoryBuffer, name, getattr(HistoryBuffer, name))
    for name in ('min', 'max', 'current', 'mean')) + tuple(
        (ONE_CYCLE_TOKEN, name, getattr(OneCycleParamScheduler, name))
        for name in ('_annealing_cos', '_annealing_linear'))


def _describe(owner: Any) -> str:
    """A name for ``owner`` that calls nothing of the object itself."""
    if owner is RestoredHistoryBuffer:
        return 'HistoryBuffer'
    if isinstance(owner, _ClassToken):
        return owner.name
    if owner is checkpoint_getattr:
        return 'getattr'
    if isinstance(owner, (type, types.FunctionType,
                          types.BuiltinFunctionType)):
        return f'{owner.__module__}.{owner.__qualname__}'
    return f'a {type(owner).__module__}.{type(owner).__qualname__} object'


def checkpoint_getattr(owner: Any, name: Any, *default: Any) -> Any:
    """What ``builtins.getattr`` resolves to in a restricted load.

    Args:
        owner: The object the pickle looks the attribute up on.
        name: The attribute name.
        *default: Refused: real checkpoints never pass a default.

    Returns:
        The value stored in :data:`ALLOWED_ATTRIBUTES` for exactly this
        ``(owner, name)`` pair (the owner compared by identity).

    Raises:
        UnsafePickleError: for any other lookup.
    """
    if not default and type(name) is str:
        for allowed_owner, allowed_name, value in ALLOWED_ATTRIBUTES:
            if owner is allowed_owner and name == allowed_name:
                return value
    allowed = ', '.join(f'{_describe(o)}.{n}'
                        for o, n, _ in ALLOWED_ATTRIBUTES)
    raise UnsafePickleError(
        f'it looks up the attribute {name!r} of {_describe(owner)}; '
        f'checkpoints may only look up {allowed}')


def checkpoint_globals() -> List[Tuple[Any, str]]:
    """``(object, name)`` pairs for ``torch.serialization.safe_globals``:
    what the names in an MMEngine checkpoint resolve to, besides the
    tensor, storage and container types torch's weights-only unpickler
    allows by itself."""
    table = dict(numpy_globals())
    table.update(_numpy_dtype_classes())
    table[HISTORY_BUFFER] = RestoredHistoryBuffer
    table[ONE_CYCLE_SCHEDULER] = ONE_CYCLE_TOKEN
    table['builtins.getattr'] = checkpoint_getattr
    return [(obj, name) for name, obj in sorted(table.items())]
