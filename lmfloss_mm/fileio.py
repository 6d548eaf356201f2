"""Writing files so that readers never see half of them.

Every file the project writes for later reading (checkpoints, split files,
run records, reports) goes through :func:`atomic_open`: the content is
written to a hidden file next to the target (:func:`partial_path`), flushed
to disk and renamed over the target, and on POSIX the folder is synced so
that the rename survives a power cut. The target therefore either keeps
its old content or has the complete new one, even when the process is
killed half-way. Files that a later, synced step commits (the images of
an image cache, whose manifest is written after one ``os.sync()``) may
skip the per-file sync with ``sync=False``.
"""
import contextlib
import json
import os
import os.path as osp
from typing import IO, Any, Iterator, Optional

__all__ = ['PARTIAL_SUFFIX', 'partial_path', 'atomic_open',
           'write_text_atomic', 'write_bytes_atomic', 'dump_json_atomic',
           'load_json']

#: Suffix of the file a target is written to before it gets its name.
PARTIAL_SUFFIX = '.partial'


def partial_path(path: str) -> str:
    """The hidden file next to ``path`` that is written first
    (``<folder>/.<name>.partial``)."""
    folder, name = osp.split(path)
    return osp.join(folder, f'.{name}{PARTIAL_SUFFIX}')


def _sync_folder(folder: str) -> None:
    if os.name == 'posix':
        fd = os.open(folder or '.', os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str, binary: bool = False,
                newline: Optional[str] = None,
                sync: bool = True) -> Iterator[IO]:
    """Open a file for writing that appears at ``path`` only once it is
    complete.

    Args:
        path (str): Target file; its folder is created when missing.
        binary (bool): Bytes instead of UTF-8 text. Defaults to False.
        newline (str, optional): Passed to :func:`open` for text (``''``
            for the ``csv`` module). Defaults to None.
        sync (bool): Flush the file and its folder to disk, so that the
            new content survives a power cut. False still replaces the
            target in one step, but leaves writing to disk to the system
            (for many files that a later sync commits). Defaults to True.

    Yields:
        IO: The partial file. When the block raises, the partial file is
        removed and ``path`` is left as it was.
    """
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = partial_path(path)
    kwargs = {} if binary else dict(encoding='utf-8', newline=newline)
    try:
        with open(tmp, 'wb' if binary else 'w', **kwargs) as f:
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    if sync:
        _sync_folder(folder)


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` with :func:`atomic_open`."""
    with atomic_open(path) as f:
        f.write(text)


def write_bytes_atomic(path: str, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to ``path`` with :func:`atomic_open` (``sync``: see
    there)."""
    with atomic_open(path, binary=True, sync=sync) as f:
        f.write(data)


def dump_json_atomic(obj: Any, path: str, sort_keys: bool = False) -> None:
    """Write ``obj`` as indented JSON with :func:`atomic_open`."""
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, sort_keys=sort_keys)
        f.write('\n')


def load_json(path: str) -> Any:
    """The JSON content of ``path``."""
    with open(path, encoding='utf-8') as f:
        return json.load(f)
