"""Load checkpoints and pickle files without running code from them.

Two entry points, one policy: a file may refer only to the exact objects
listed in :mod:`lmfloss_mm.runner.allowlist` (and, for checkpoints, the
tensor types torch's weights-only unpickler allows by itself).

* :func:`load_checkpoint_file` reads files written by ``torch.save`` (the
  zip format, and the older non-zip format) with ``torch.load(...,
  weights_only=True)``. It reads every checkpoint MMEngine writes: training
  state with the message hub and its ``HistoryBuffer`` objects, numpy
  arrays and scalars, optimizer and parameter-scheduler state, best
  checkpoints, plain state dicts and published model weights.
* :func:`load_pickle_file` reads plain pickle files (the predictions
  ``tools/test.py --out`` dumps) with :class:`pickle.Unpickler` whose
  ``find_class`` resolves only exact names from the same tables.

There is no fallback to full unpickling, except for a checkpoint whose
path the user lists in the environment variable
``LMFLOSS_MM_TRUSTED_CHECKPOINTS`` (see :func:`trusted_checkpoints`).
"""
import _compat_pickle
import collections
import io
import logging
import os
import os.path as osp
import pickle
import pickletools
import re
import tarfile
import threading
from typing import Any, Dict, List

import torch
from mmengine.logging import print_log
from mmengine.utils import digit_version

from .allowlist import checkpoint_globals, numpy_globals, restore_scope
from .errors import UnreadableFileError, UnsafePickleError

__all__ = [
    'MIN_TORCH_VERSION', 'TRUSTED_CHECKPOINTS_ENV', 'load_checkpoint_file',
    'load_pickle_file', 'restricted_checkpoint_globals',
    'trusted_checkpoints'
]

#: torch 2.6 added ``(object, 'module.name')`` entries to
#: ``torch.serialization.safe_globals``, which this module needs to give a
#: name a restricted stand-in.
MIN_TORCH_VERSION = '2.6.0'

#: Environment variable listing, separated by ``os.pathsep``, the exact paths
#: of checkpoints the user trusts to be loaded with full unpickling when the
#: restricted loader refuses them.
TRUSTED_CHECKPOINTS_ENV = 'LMFLOSS_MM_TRUSTED_CHECKPOINTS'

_HELP = 'See docs/checkpoints.md.'
_ZIP_MAGIC = b'PK\x03\x04'
#: ``torch.save``'s non-zip format starts with its magic number, pickled.
_LEGACY_MAGIC = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)

# torch's allowlist is process-wide; loads that swap it in are serialised.
_GLOBALS_LOCK = threading.RLock()


def _torch_is_supported() -> bool:
    return digit_version(torch.__version__) >= digit_version(
        MIN_TORCH_VERSION)


class restricted_checkpoint_globals:
    """Context manager: inside it, torch's weights-only unpickler resolves
    exactly :func:`~lmfloss_mm.runner.allowlist.checkpoint_globals` besides
    its own built-in types.

    Globals that other code registered with
    ``torch.serialization.add_safe_globals`` are set aside for the duration
    and restored afterwards, so that what this loader accepts does not
    depend on them. Loads in other threads wait for the lock only if they
    use this context manager too.
    """

    def __enter__(self):
        if not _torch_is_supported():
            raise RuntimeError(
                f'lmfloss_mm loads checkpoints safely with torch>='
                f'{MIN_TORCH_VERSION}; torch {torch.__version__} is '
                f'installed. Upgrade torch. {_HELP}')
        _GLOBALS_LOCK.acquire()
        self._saved = None
        try:
            self._saved = torch.serialization.get_safe_globals()
            torch.serialization.clear_safe_globals()
            torch.serialization.add_safe_globals(checkpoint_globals())
            self._restore_scope = restore_scope()
            self._restore_scope.__enter__()
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self._restore_scope.__exit__(exc_type, exc, tb)
        finally:
            self._restore()

    def _restore(self):
        try:
            if self._saved is not None:
                torch.serialization.clear_safe_globals()
                torch.serialization.add_safe_globals(self._saved)
        finally:
            _GLOBALS_LOCK.release()


# ----------------------------------------------------------------- errors
def _opcode_name(code: int) -> str:
    op = pickletools.code2op.get(chr(code)) if 0 <= code < 256 else None
    return f'{op.name} (pickle protocol {op.proto})' if op else str(code)


def _refusal_reason(error: BaseException) -> str:
    """Why the restricted load refused, in one sentence."""
    # torch re-raises its unpickler's errors ``from None``: the original,
    # possibly one of ours, is the context.
    original = error.__context__
    for candidate in (error, original):
        if isinstance(candidate, UnsafePickleError):
            return str(candidate)
    message = str(original if isinstance(original, pickle.UnpicklingError)
                  else error)
    found = re.search(r'GLOBAL (\S+) (was not an allowed global|whose '
                      r'module)', message)
    if found:
        return (f'it refers to {found.group(1)}, which is not one of the '
                'objects checkpoints may contain')
    found = re.search(r'Unsupported operand (\d+)', message)
    if found:
        return (f'it uses the pickle instruction '
                f'{_opcode_name(int(found.group(1)))}, which restricted '
                'loading does not support')
    lines = message.split(' Please use ')[0].strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _refused(filename: str, reason: str) -> UnsafePickleError:
    return UnsafePickleError(
        f'{filename} was not loaded: {reason}. Nothing in it was run. A '
        'checkpoint you wrote yourself and trust can be loaded by listing '
        f'its exact path in {TRUSTED_CHECKPOINTS_ENV}. {_HELP}')


def _unreadable(filename: str, what: str, fix: str) -> UnreadableFileError:
    return UnreadableFileError(f'{filename} {what}. {fix} {_HELP}')


_DAMAGED_FIX = ('Copy or save it again, or use an earlier checkpoint; '
                'MMEngine resumes from the path in work_dir/last_checkpoint.')


# -------------------------------------------------------- trusted files
def trusted_checkpoints() -> List[str]:
    """The files listed in ``LMFLOSS_MM_TRUSTED_CHECKPOINTS``, resolved
    with :func:`os.path.realpath`.

    Raises:
        ValueError: if an entry is a directory (only files can be trusted).
    """
    paths = []
    for entry in os.environ.get(TRUSTED_CHECKPOINTS_ENV, '').split(
            os.pathsep):
        if not entry.strip():
            continue
        path = osp.realpath(osp.expanduser(entry.strip()))
        if osp.isdir(path):
            raise ValueError(
                f'{TRUSTED_CHECKPOINTS_ENV} lists the directory {entry}; '
                'list the checkpoint files themselves.')
        paths.append(path)
    return paths


def _is_trusted(filename: str) -> bool:
    return osp.realpath(filename) in trusted_checkpoints()


def _load_trusted(filename: str, map_location, reason: str) -> Any:
    print_log(
        f'{filename} is listed in {TRUSTED_CHECKPOINTS_ENV}; loading it '
        f'with full unpickling, which runs code the file names ({reason}).',
        logger='current',
        level=logging.WARNING)
    return torch.load(filename, map_location=map_location,
                      weights_only=False)


# ------------------------------------------------------------ checkpoints
def _checkpoint_format(filename: str) -> str:
    with open(filename, 'rb') as f:
        head = f.read(len(_LEGACY_MAGIC))
    if not head:
        return 'empty'
    if head.startswith(_ZIP_MAGIC):
        return 'zip'
    if head == _LEGACY_MAGIC:
        return 'legacy'
    if tarfile.is_tarfile(filename):
        return 'tar'
    return 'unknown'


def _restricted_torch_load(source, map_location, mmap: bool = False) -> Any:
    with restricted_checkpoint_globals():
        return torch.load(source, map_location=map_location,
                          weights_only=True, mmap=mmap)


def load_checkpoint_file(filename: str,
                         map_location: Any = None,
                         mmap: bool = False) -> Any:
    """Load a file written by ``torch.save`` without running code from it.

    Args:
        filename (str): Local path of the checkpoint.
        map_location: Passed to :func:`torch.load`. Defaults to None.
        mmap (bool): Map the file's tensors instead of reading them (zip
            checkpoints only; ignored for the non-zip format). Defaults to
            False.

    Returns:
        The unpickled object, as ``torch.load`` returns it.

    Raises:
        FileNotFoundError: if ``filename`` is not a file.
        UnsafePickleError: if the file needs an object, attribute or pickle
            instruction outside the allowlist, unless the file is listed in
            ``LMFLOSS_MM_TRUSTED_CHECKPOINTS``.
        UnreadableFileError: for an empty, truncated or damaged file, the
            pre-1.6 ``.tar`` format, or a file ``torch.save`` did not write.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    kind = _checkpoint_format(filename)
    if kind == 'empty':
        raise _unreadable(filename, 'is empty (0 bytes): it was not written '
                          'completely', _DAMAGED_FIX)
    if kind in ('tar', 'unknown') or not _torch_is_supported():
        reason = {
            'tar': 'it is in the .tar format of torch before 0.4, which '
            'cannot be read without full unpickling',
            'unknown': 'it is neither in the zip format of torch.save nor '
            'in its older protocol-2 format',
        }.get(kind, f'restricted loading needs torch>={MIN_TORCH_VERSION}')
        if _is_trusted(filename):
            return _load_trusted(filename, map_location, reason)
        raise _unreadable(
            filename, f'cannot be loaded: {reason}',
            'Save it again with torch.save (zip format) from a setup you '
            f'trust, or list its exact path in {TRUSTED_CHECKPOINTS_ENV} '
            'if you wrote it yourself.')
    try:
        return _restricted_torch_load(
            filename, map_location, mmap=mmap and kind == 'zip')
    except pickle.UnpicklingError as error:
        reason = _refusal_reason(error)
        if _is_trusted(filename):
            return _load_trusted(filename, map_location, reason)
        raise _refused(filename, reason) from None
    except (EOFError, RuntimeError, ValueError, TypeError, KeyError,
            AttributeError, IndexError, UnicodeDecodeError) as error:
        detail = str(error).strip().split('. ')[0].splitlines()
        detail = detail[0] if detail else ''
        raise _unreadable(
            filename, f'is truncated or damaged ({type(error).__name__}'
            f'{": " + detail if detail else ""})', _DAMAGED_FIX) from error


def load_checkpoint_bytes(data: bytes, description: str) -> Any:
    """:func:`load_checkpoint_file` for bytes held in memory (no trusted
    fallback). ``description`` names the data in errors."""
    try:
        return _restricted_torch_load(io.BytesIO(data), 'cpu')
    except pickle.UnpicklingError as error:
        raise UnsafePickleError(
            f'{description} was refused ({_refusal_reason(error)})') from None


# ------------------------------------------------------------ plain pickles
class _SealedCallable:
    """A function that a plain pickle may call but not modify: ``BUILD``
    on it raises (on a plain function it would set attributes such as
    ``__defaults__`` for the whole process)."""

    __slots__ = ('_function', '_name')

    def __init__(self, function, name: str):
        object.__setattr__(self, '_function', function)
        object.__setattr__(self, '_name', name)

    def __setattr__(self, key, value):
        raise AttributeError(f'{self._name} is read-only')

    def __setstate__(self, state):
        raise UnsafePickleError(f'it modifies {self._name}')

    def __call__(self, *args):
        return self._function(*args)

    def __repr__(self) -> str:
        return self._name


def _storage_from_bytes(data: Any) -> Any:
    """Stands in for ``torch.storage._load_from_bytes``, through which a
    plain pickle stores each tensor's data as an embedded ``torch.save``
    file (torch's own function loads it with full unpickling)."""
    if type(data) is not bytes:
        raise UnsafePickleError(
            'it passes a non-bytes object to torch.storage._load_from_bytes')
    storage = load_checkpoint_bytes(data, 'a tensor stored in it')
    if type(storage) not in (torch.storage.TypedStorage,
                             torch.storage.UntypedStorage):
        raise UnsafePickleError(
            'a tensor stored in it holds a '
            f'{type(storage).__name__} instead of a storage')
    return storage


def _pickle_globals() -> Dict[str, Any]:
    """Names a plain pickle of lists, dicts, numpy arrays and tensors may
    use. Every entry is immutable or sealed (``BUILD`` cannot modify it)."""
    try:  # numpy >= 2
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy 1.x
        from numpy.core.numeric import _frombuffer
    table = dict(numpy_globals())
    for module in ('numpy.core.numeric', 'numpy._core.numeric'):
        # arrays pickled with protocol 5
        table[f'{module}._frombuffer'] = _SealedCallable(
            _frombuffer, f'{module}._frombuffer')
    table.update({
        'collections.OrderedDict': collections.OrderedDict,
        '_codecs.encode': __import__('_codecs').encode,  # bytes, protocol 2
        'builtins.set': set,
        'builtins.frozenset': frozenset,
        'builtins.bytearray': bytearray,
        'builtins.complex': complex,
        'torch._utils._rebuild_tensor_v2': _SealedCallable(
            torch._utils._rebuild_tensor_v2,
            'torch._utils._rebuild_tensor_v2'),
        'torch.storage._load_from_bytes': _SealedCallable(
            _storage_from_bytes, 'torch.storage._load_from_bytes'),
    })
    return table


_PICKLE_GLOBALS = _pickle_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """:class:`pickle.Unpickler` that resolves only the exact names of
    :func:`_pickle_globals` and refuses persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol 0-2
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return _PICKLE_GLOBALS[f'{module}.{name}']
        except KeyError:
            raise UnsafePickleError(
                f'it refers to {module}.{name}, which is not one of the '
                'objects prediction files may contain') from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError('it uses a persistent id')


def load_pickle_file(filename: str) -> Any:
    """Load a plain pickle file without running code from it.

    It reads what MMEngine's ``DumpResults`` (``tools/test.py --out``)
    writes: lists and dicts of tensors, numpy arrays, numbers and strings,
    in any pickle protocol.

    Args:
        filename (str): Path of the pickle file.

    Returns:
        The unpickled object.

    Raises:
        FileNotFoundError: if ``filename`` is not a file.
        UnsafePickleError: if the file needs anything else.
        UnreadableFileError: for an empty, truncated or damaged file.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if _checkpoint_format(filename) == 'zip':
        raise _unreadable(
            filename, 'is a zip archive (a torch.save checkpoint?), not a '
            'pickle file', 'Pass the pickle file tools/test.py --out wrote.')
    with open(filename, 'rb') as f:
        try:
            return _RestrictedUnpickler(f).load()
        except UnsafePickleError as error:
            raise UnsafePickleError(
                f'{filename} was not loaded: {error}. Nothing in it was run. '
                f'{_HELP}') from None
        except (EOFError, pickle.UnpicklingError, RuntimeError, ValueError,
                TypeError, KeyError, AttributeError, IndexError,
                UnicodeDecodeError) as error:
            detail = str(error).strip() or 'no data'
            raise _unreadable(
                filename, f'cannot be read as a pickle file '
                f'({type(error).__name__}: {detail})',
                'It is empty, truncated or damaged; write it again '
                '(tools/test.py --out).') from error
