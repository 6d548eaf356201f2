"""Hand-assembled pickle programs and a way to pack them into a
``torch.save`` zip checkpoint, for tests of the restricted loaders.

Every harmful program ends in a call that creates the directory ``marker``:
a test proves that nothing ran by asserting that the directory does not
exist afterwards, and proves that the program is harmful by loading it with
the unrestricted :func:`pickle.loads` (:func:`assert_runs_unrestricted`).
"""
import io
import os
import pickle
import struct
import zipfile

import torch

PROTO_2 = b'\x80\x02'
MARK, TUPLE, REDUCE, BUILD, NEWOBJ = b'(', b't', b'R', b'b', b'\x81'
EMPTY_DICT, EMPTY_TUPLE, SETITEM, STOP = b'}', b')', b's', b'.'
NONE = b'N'


def global_(module: str, name: str) -> bytes:
    """``GLOBAL``: push the object ``module.name`` (protocol 0-2)."""
    return b'c' + f'{module}\n{name}\n'.encode()


def stack_global(module: str, name: str) -> bytes:
    """``STACK_GLOBAL`` (protocol 4): a dotted ``name`` resolves attribute by
    attribute in the unrestricted unpickler."""
    return text(module) + text(name) + b'\x93'


def text(value: str) -> bytes:
    """``BINUNICODE``: push a str."""
    data = value.encode()
    return b'X' + struct.pack('<I', len(data)) + data


def integer(value: int) -> bytes:
    """``BININT``: push an int."""
    return b'J' + struct.pack('<i', value)


def tuple_(*items: bytes) -> bytes:
    return MARK + b''.join(items) + TUPLE


def call(function: bytes, *args: bytes) -> bytes:
    """``REDUCE``: push ``function(*args)``."""
    return function + tuple_(*args) + REDUCE


def getattr_(owner: bytes, name: str) -> bytes:
    """``getattr(owner, name)``, as pickle writes attributes of classes."""
    return call(global_('builtins', 'getattr'), owner, text(name))


def dict_(**items: bytes) -> bytes:
    out = EMPTY_DICT
    for key, value in items.items():
        out += text(key) + value + SETITEM
    return out


def fragment(obj) -> bytes:
    """The protocol-2 pickle ops that push ``obj``, without memo entries,
    so that they can be spliced into a hand-written program."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)
    pickler.fast = True  # no memo: the ops do not depend on their position
    pickler.dump(obj)
    data = buffer.getvalue()
    assert data[:2] == PROTO_2 and data[-1:] == STOP
    return data[2:-1]


HISTORY_BUFFER = global_('mmengine.logging.history_buffer', 'HistoryBuffer')


def history_buffer(*states) -> bytes:
    """A ``HistoryBuffer`` as MMEngine pickles it (``NEWOBJ``), given each
    of ``states`` in turn (``BUILD``)."""
    return HISTORY_BUFFER + EMPTY_TUPLE + NEWOBJ + b''.join(
        fragment(state) + BUILD for state in states)


def program(*ops: bytes, protocol: bytes = PROTO_2) -> bytes:
    """A complete pickle: protocol header, ``ops``, ``STOP``."""
    return protocol + b''.join(ops) + STOP


# ------------------------------------------------------ harmful programs
PROTO_4 = b'\x80\x04'


def mkdir_code(marker) -> str:
    """Python source that creates the directory ``marker``."""
    return f"__import__('os').mkdir({str(marker)!r})"


def mkdir_with(function: bytes, marker) -> bytes:
    """A program that calls ``function(marker)``."""
    return program(call(function, text(str(marker))))


def eval_mkdir(marker) -> bytes:
    return program(call(global_('builtins', 'eval'),
                        text(mkdir_code(marker))))


def module_attribute_mkdir(marker) -> bytes:
    """``torch.serialization.os.mkdir(marker)``: the module is resolved
    first (memo 0), then ``getattr(module, 'mkdir')``."""
    return program(
        global_('torch.serialization', 'os') + b'q\x000' +
        call(getattr_(b'h\x00', 'mkdir'), text(str(marker))))


def dotted_global_mkdir(marker) -> bytes:
    """``GLOBAL torch.serialization os.mkdir`` under protocol 4, where the
    unrestricted unpickler follows the dots."""
    return program(call(global_('torch.serialization', 'os.mkdir'),
                        text(str(marker))), protocol=PROTO_4)


def stack_global_mkdir(marker) -> bytes:
    """The same through ``STACK_GLOBAL``, protocol 4's name lookup."""
    return program(stack_global('torch.serialization', 'os.mkdir') +
                   tuple_(text(str(marker))) + REDUCE, protocol=PROTO_4)


def eval_through_globals(function: bytes, marker) -> bytes:
    """``function.__globals__['__builtins__']['eval'](code)``."""
    globals_ = getattr_(function, '__globals__')
    builtins_ = call(getattr_(globals_, 'get'), text('__builtins__'))
    eval_ = call(getattr_(builtins_, 'get'), text('eval'))
    return program(call(eval_, text(mkdir_code(marker))))


def eval_through_getattr_self(marker) -> bytes:
    """``getattr.__self__`` is the builtins module."""
    builtins_ = getattr_(global_('builtins', 'getattr'), '__self__')
    return program(call(getattr_(builtins_, 'eval'),
                        text(mkdir_code(marker))))


def assert_runs_unrestricted(data: bytes, marker) -> None:
    """Control: the unrestricted :func:`pickle.loads` of ``data`` creates
    ``marker``, so refusing ``data`` matters."""
    try:
        pickle.loads(data)
    except Exception:
        pass  # a chain may fail after its payload ran
    assert os.path.isdir(marker)


def torch_zip(data_pkl: bytes) -> bytes:
    """A ``torch.save`` zip checkpoint whose pickle is ``data_pkl``."""
    buffer = io.BytesIO()
    torch.save({}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith('/data.pkl'):
                data = data_pkl
            target.writestr(info.filename, data)
    return out.getvalue()


def write(path, data: bytes) -> str:
    with open(path, 'wb') as f:
        f.write(data)
    return os.fspath(path)
