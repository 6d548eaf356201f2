"""Provenance of a result: the code, libraries, settings and hardware that
made it.

Training on a CPU or a GPU is reproducible bit for bit only under the same
conditions. The same seed gives other numbers with another code version,
other library versions, another number of torch threads, other determinism
flags, or another processor: torch and oneDNN pick their kernels by the
instruction set of the CPU (AVX2, AVX-512, ...), and the kernels round
differently. A short training amplifies such rounding differences into
different checkpoints. On the ISIC 2018 cross-validation benchmark, one run's
macro-F1 is 34.4 with oneDNN's AVX2 kernels and 23.6 with its AVX-512 ones
(``docs/benchmark_isic2018.md``, "Reproducibility").

* :func:`collect_provenance` describes the running process; store it with
  every result (JSON-able, no host name, no user name, no path).
* :func:`provenance_key` keeps the fields that must be equal for two results
  to be comparable run by run (:data:`KEY_FIELDS`).
* :func:`check_provenance` refuses, or flags, a set of results that would mix
  provenances in one table and names the fields that differ.

Example::

    from lmfloss_mm.results.provenance import (check_provenance,
                                               collect_provenance)
    record_info['provenance'] = collect_provenance(device='cpu')
    ...
    check_provenance(records)  # raises MixedProvenanceError when mixed
"""
import hashlib
import importlib
import json
import os
import os.path as osp
import platform
import shutil
import subprocess
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = [
    'PROVENANCE_SCHEMA', 'KEY_FIELDS', 'DISPATCH_ENV', 'MixedProvenanceError',
    'collect_provenance', 'code_version', 'provenance_key',
    'provenance_differences', 'check_provenance', 'check_stored_provenance',
    'describe_provenance', 'provenance_of'
]

#: Version of the provenance dict layout.
PROVENANCE_SCHEMA = 1

#: Dotted names of the fields that must be equal for results to be
#: comparable run by run. For a CPU device they include the CPU model and
#: its vector instruction sets (``device.name``, ``device.capability``):
#: oneDNN and MKL choose kernels by the instruction set and by the cache
#: sizes of the model. The Python version, the core count and the inter-op
#: thread count are recorded but not compared: they do not change the
#: arithmetic of a run.
KEY_FIELDS = (
    'code.commit',
    'code.dirty',
    'code.diff_sha256',
    'code.version',
    'packages.torch',
    'packages.torchvision',
    'packages.numpy',
    'packages.pillow',
    'packages.opencv',
    'packages.mmengine',
    'packages.mmcv',
    'packages.mmpretrain',
    'torch_build.kind',
    'torch_build.cuda',
    'torch_build.cudnn',
    'torch_build.cpu_capability',
    'dispatch_env.ATEN_CPU_CAPABILITY',
    'dispatch_env.ONEDNN_MAX_CPU_ISA',
    'dispatch_env.DNNL_MAX_CPU_ISA',
    'dispatch_env.MKL_ENABLE_INSTRUCTIONS',
    'dispatch_env.MKL_CBWR',
    'threads.intra_op',
    'determinism.deterministic_algorithms',
    'determinism.cudnn_deterministic',
    'determinism.cudnn_benchmark',
    'determinism.cuda_matmul_allow_tf32',
    'determinism.cudnn_allow_tf32',
    'determinism.float32_matmul_precision',
    'device.type',
    'device.name',
    'device.capability',
)

#: Module whose ``__version__`` is recorded under each package name. The
#: module actually imported is asked, not the installed metadata, so that a
#: copy earlier on ``sys.path`` is reported as the one used.
_PACKAGE_MODULES = OrderedDict(
    torch='torch',
    torchvision='torchvision',
    numpy='numpy',
    pillow='PIL',
    opencv='cv2',
    mmengine='mmengine',
    mmcv='mmcv',
    mmpretrain='mmpretrain',
)

#: Environment variables that change which CPU kernels torch, oneDNN and
#: MKL run (and so the rounding), recorded with their values (None: unset).
DISPATCH_ENV = ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA',
                'DNNL_MAX_CPU_ISA', 'MKL_ENABLE_INSTRUCTIONS', 'MKL_CBWR')

#: Vector instruction-set flags of ``/proc/cpuinfo`` recorded as the
#: capability of a CPU device.
_CPU_ISA_FLAGS = ('sse4_2', 'avx', 'fma', 'avx2', 'avx_vnni', 'avx512f',
                  'avx512dq', 'avx512bw', 'avx512vl', 'avx512_vnni',
                  'avx512_bf16', 'avx512_fp16', 'amx_tile', 'amx_bf16',
                  'amx_int8', 'asimd', 'sve', 'sve2')

_GIT_TIMEOUT_S = 20
#: Documentation does not change results: ``code.dirty`` and
#: ``code.diff_sha256`` leave these paths out.
_NOT_CODE = (':(exclude,glob)**/*.md', ':(exclude,glob)**/*.rst',
             ':(exclude)docs')
#: :func:`code_version` of each package folder, computed once per process:
#: a process runs the code it imported, whatever changes on disk later.
_PROCESS_CODE: Dict[str, Dict[str, Any]] = {}


class MixedProvenanceError(ValueError):
    """Results of different provenance would be combined in one table."""


# ------------------------------------------------------------- collecting
def _git(args: Sequence[str], cwd: str) -> Optional[bytes]:
    """Output of ``git <args>`` in ``cwd``, None when git fails or is
    missing."""
    git = shutil.which('git')
    if git is None:
        return None
    try:
        done = subprocess.run([git, *args], cwd=cwd, capture_output=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _package_version(package_dir: str) -> Optional[str]:
    """``__version__`` of the package in ``package_dir`` (read from its
    ``version.py`` or ``__init__.py`` without importing it)."""
    for name in ('version.py', '__init__.py'):
        path = osp.join(package_dir, name)
        if not osp.isfile(path):
            continue
        with open(path, encoding='utf-8') as f:
            for line in f:
                if line.startswith('__version__'):
                    return line.split('=', 1)[1].strip().strip('\'"')
    return None


def _worktree_digest(root: str) -> Optional[str]:
    """SHA-256 of the uncommitted state of the code in the checkout at
    ``root``: the diff of tracked files against HEAD, then every untracked,
    not ignored file (path and content); documentation left out. None when
    git cannot list them."""
    diff = _git(['diff', 'HEAD', '--binary', '--', *_NOT_CODE], root)
    untracked = _git(['ls-files', '--others', '--exclude-standard', '-z',
                      '--', *_NOT_CODE], root)
    if diff is None or untracked is None:
        return None
    digest = hashlib.sha256(diff)
    for name in sorted(n for n in untracked.split(b'\0') if n):
        path = osp.join(root, os.fsdecode(name))
        digest.update(b'\0untracked\0' + name + b'\0')
        if osp.islink(path):
            digest.update(os.fsencode(os.readlink(path)))
        elif osp.isfile(path):
            with open(path, 'rb') as f:
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    digest.update(chunk)
    return digest.hexdigest()


def code_version(package_dir: Optional[str] = None) -> Dict[str, Any]:
    """The version of the code in ``package_dir``.

    Args:
        package_dir (str, optional): Folder of the Python package. Defaults
            to the folder of ``lmfloss_mm``.

    Returns:
        dict: ``package`` (folder name), ``version`` (its ``__version__``),
        and, when the package's parent folder is the top of a git checkout,
        ``commit`` (HEAD), ``dirty`` (tracked changes or untracked, not
        ignored files; Markdown, reStructuredText and ``docs/`` aside) and
        ``diff_sha256`` (:func:`_worktree_digest`, only when dirty: two
        dirty trees are the same code only when it is equal). Outside a
        checkout (an installed package, or a package that only lies
        somewhere inside another repository) those three are None.
    """
    if package_dir is None:
        package_dir = osp.dirname(osp.dirname(osp.abspath(__file__)))
    package_dir = osp.realpath(package_dir)
    info = dict(package=osp.basename(package_dir),
                version=_package_version(package_dir),
                commit=None, dirty=None, diff_sha256=None)
    root = osp.dirname(package_dir)
    top = _git(['rev-parse', '--show-toplevel'], root)
    if top is None or osp.realpath(os.fsdecode(top.strip())) != root:
        return info
    head = _git(['rev-parse', '--verify', '-q', 'HEAD'], root)
    status = _git(['status', '--porcelain', '--untracked-files=all', '--',
                   *_NOT_CODE], root)
    if head is None or status is None:
        return info
    info['commit'] = head.decode().strip()
    info['dirty'] = bool(status.strip())
    if info['dirty']:
        info['diff_sha256'] = _worktree_digest(root)
    return info


def _module_version(module: str) -> Optional[str]:
    try:
        return str(importlib.import_module(module).__version__)
    except (ImportError, AttributeError):
        return None


def _cpuinfo() -> Dict[str, str]:
    """The first processor's ``key: value`` lines of ``/proc/cpuinfo``
    (empty where there is none)."""
    info: Dict[str, str] = {}
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            for line in f:
                key, sep, value = line.partition(':')
                if sep:
                    info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def _cpu_model(cpuinfo: Mapping[str, str]) -> str:
    """The CPU model name, else what :mod:`platform` knows."""
    for key in ('model name', 'Processor', 'cpu model'):
        if cpuinfo.get(key):
            return cpuinfo[key]
    return platform.processor() or platform.machine() or 'unknown'


def _cpu_isa(cpuinfo: Mapping[str, str]) -> Optional[str]:
    """The vector instruction sets of :data:`_CPU_ISA_FLAGS` the CPU has,
    space-separated; None where ``/proc/cpuinfo`` gives no flags."""
    flags = set((cpuinfo.get('flags') or cpuinfo.get('Features')
                 or '').split())
    if not flags:
        return None
    return ' '.join(flag for flag in _CPU_ISA_FLAGS if flag in flags)


def _torch_build(torch) -> Dict[str, Any]:
    cuda, hip = torch.version.cuda, getattr(torch.version, 'hip', None)
    cudnn = None
    if torch.backends.cudnn.is_available():
        cudnn = torch.backends.cudnn.version()
    return dict(
        kind='cuda' if cuda else 'rocm' if hip else 'cpu',
        cuda=cuda or hip,
        cudnn=cudnn,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        mkldnn=torch.backends.mkldnn.is_available(),
        mkl=torch.backends.mkl.is_available(),
        openmp=torch.backends.openmp.is_available(),
    )


def _determinism(torch) -> Dict[str, Any]:
    return dict(
        deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
        deterministic_warn_only=(
            torch.is_deterministic_algorithms_warn_only_enabled()),
        cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        cuda_matmul_allow_tf32=bool(torch.backends.cuda.matmul.allow_tf32),
        cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
        float32_matmul_precision=torch.get_float32_matmul_precision(),
    )


def _device(torch, device) -> Dict[str, Any]:
    if device is None:
        from mmengine.device import get_device
        device = get_device()
    device = torch.device(device)
    if device.type == 'cuda':
        index = device.index if device.index is not None else \
            torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        return dict(type='cuda', name=torch.cuda.get_device_name(index),
                    capability=f'{major}.{minor}')
    if device.type == 'cpu':
        cpuinfo = _cpuinfo()
        return dict(type='cpu', name=_cpu_model(cpuinfo),
                    capability=_cpu_isa(cpuinfo))
    return dict(type=device.type, name=device.type, capability=None)


def collect_provenance(device=None,
                       package_dir: Optional[str] = None) -> Dict[str, Any]:
    """What makes a result in this process: code, libraries, threads,
    determinism flags, device and machine.

    Call it where the result is made (after the torch thread count and the
    determinism flags are set, e.g. right after training), and store it
    with the result. The code version is read once per process, at the
    first call: a process runs the code it imported.

    Args:
        device (str | torch.device, optional): The device the model ran on.
            Defaults to MMEngine's :func:`~mmengine.device.get_device`
            (``'cuda'`` when available, else ``'cpu'``, ...).
        package_dir (str, optional): Folder of the package whose version is
            recorded (:func:`code_version`). Defaults to ``lmfloss_mm``.

    Returns:
        dict: JSON-able, with ``schema``; ``code`` (:func:`code_version`);
        ``python``; ``packages`` (torch, torchvision, numpy, pillow,
        opencv, mmengine, mmcv, mmpretrain: the imported module's
        ``__version__``, None when not installed); ``torch_build`` (kind
        ``'cuda'`` / ``'rocm'`` / ``'cpu'``, CUDA or HIP and cuDNN version,
        the CPU capability torch dispatches to, MKL-DNN / MKL / OpenMP);
        ``dispatch_env`` (the :data:`DISPATCH_ENV` variables, None when
        unset); ``threads`` (intra-op and inter-op); ``determinism``
        (torch's deterministic-algorithms, cuDNN and TF32 flags, float32
        matmul precision); ``device`` (type; name: the GPU or the CPU
        model; capability: the CUDA compute capability, or the CPU's
        vector instruction sets); ``machine`` (CPU model, logical cores,
        architecture, OS; no host name).
    """
    import torch
    code_key = package_dir or ''
    if code_key not in _PROCESS_CODE:
        _PROCESS_CODE[code_key] = code_version(package_dir)
    return dict(
        schema=PROVENANCE_SCHEMA,
        code=dict(_PROCESS_CODE[code_key]),
        python=f'{platform.python_version()} '
        f'({platform.python_implementation()})',
        packages={name: _module_version(module)
                  for name, module in _PACKAGE_MODULES.items()},
        torch_build=_torch_build(torch),
        dispatch_env={name: os.environ.get(name) for name in DISPATCH_ENV},
        threads=dict(intra_op=torch.get_num_threads(),
                     inter_op=torch.get_num_interop_threads()),
        determinism=_determinism(torch),
        device=_device(torch, device),
        machine=dict(cpu=_cpu_model(_cpuinfo()), cores=os.cpu_count(),
                     arch=platform.machine(), os=platform.system()),
    )


# -------------------------------------------------------------- comparing
def _field(provenance: Mapping[str, Any], dotted: str):
    value: Any = provenance
    for part in dotted.split('.'):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _hashable(value):
    """``value``, or its sorted JSON text when it is a list or a dict."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def provenance_key(provenance: Mapping[str, Any]) -> Tuple[Tuple[str, Any],
                                                           ...]:
    """The fields of ``provenance`` that must be equal for results to be
    comparable run by run (:data:`KEY_FIELDS`), as a hashable tuple of
    ``(dotted name, value)`` pairs.

    The key of a provenance read back from JSON equals the key of the
    original. A field missing from an older provenance is None.
    """
    if not isinstance(provenance, Mapping):
        raise TypeError(f'provenance must be a dict (from '
                        f'collect_provenance), got {type(provenance)}')
    return tuple((name, _hashable(_field(provenance, name)))
                 for name in KEY_FIELDS)


def provenance_of(record) -> Optional[Mapping[str, Any]]:
    """The provenance stored with a result: ``record.info['provenance']``
    of a :class:`~lmfloss_mm.results.RunRecord`, or ``record['provenance']``
    of a dict; None when it has none."""
    info = getattr(record, 'info', None)
    if isinstance(info, Mapping):
        return info.get('provenance')
    if isinstance(record, Mapping):
        return record.get('provenance')
    raise TypeError(f'expected a RunRecord or a dict, got {type(record)}')


def _record_name(record, index: int) -> str:
    name = getattr(record, 'name', None)
    if isinstance(record, Mapping):
        name = record.get('name') or record.get('path')
    return str(name) if name else f'#{index}'


Differences = Dict[str, Dict[Any, List[str]]]


def provenance_differences(records: Sequence) -> Differences:
    """Where the provenances of ``records`` disagree.

    Args:
        records: :class:`~lmfloss_mm.results.RunRecord` objects or dicts,
            each with its provenance (:func:`provenance_of`).

    Returns:
        dict: ``{dotted field: {value: [record names]}}`` for every key
        field with more than one value. Records without provenance are
        listed under the pseudo-field ``'provenance'`` with value None.
    """
    missing, keys = [], []
    for index, record in enumerate(records):
        provenance = provenance_of(record)
        name = _record_name(record, index)
        if provenance is None:
            missing.append(name)
        else:
            keys.append((name, dict(provenance_key(provenance))))
    differences: Differences = {}
    if missing:
        differences['provenance'] = {None: missing}
    for field in KEY_FIELDS:
        values: Dict[Any, List[str]] = {}
        for name, key in keys:
            values.setdefault(key[field], []).append(name)
        if len(values) > 1:
            differences[field] = values
    return differences


def _format_names(names: List[str], limit: int = 3) -> str:
    shown = ', '.join(names[:limit])
    more = len(names) - limit
    return f'{len(names)} run(s): {shown}' + (f', +{more} more'
                                              if more > 0 else '')


def check_provenance(records: Sequence, strict: bool = True) -> List[str]:
    """Refuse (``strict``) or flag a table that would mix results of
    different provenance.

    Args:
        records: :class:`~lmfloss_mm.results.RunRecord` objects or dicts
            with their provenance.
        strict (bool): Raise :class:`MixedProvenanceError` when the
            provenances differ or some are missing. With False, return the
            messages instead (for a warning in the report). Defaults to
            True.

    Returns:
        list[str]: One message per differing field (``[]`` when all
        records share one provenance), each naming the field, its values
        and the runs that have each value.

    Raises:
        MixedProvenanceError: ``strict`` and the records differ; the
            message names every differing field.
    """
    messages = []
    for field, values in provenance_differences(records).items():
        if field == 'provenance':
            messages.append(
                f'no provenance stored (made before provenance was '
                f'recorded, or by other code): {_format_names(values[None])}')
            continue
        parts = '; '.join(f'{value!r} ({_format_names(names)})'
                          for value, names in values.items())
        messages.append(f'{field} differs: {parts}')
    if messages and strict:
        raise MixedProvenanceError(
            'Results of different provenance would be combined, so runs '
            'with the same seed are not comparable:\n- ' +
            '\n- '.join(messages) +
            '\nRe-run the differing runs under one provenance (same code, '
            'libraries, threads, flags and device), or report them in '
            'separate tables.')
    return messages


def check_stored_provenance(records: Sequence,
                            strict: bool = True) -> List[str]:
    """:func:`check_provenance` of the records that store a provenance;
    records without one (stored before provenance was recorded) are read
    as they are and not checked.

    Args:
        records: :class:`~lmfloss_mm.results.RunRecord` objects or dicts.
        strict (bool): Raise :class:`MixedProvenanceError` when the stored
            provenances differ; with False, return the messages. Defaults
            to True.

    Returns:
        list[str]: One message per differing field; ``[]`` when the
        provenances agree or none is stored.
    """
    known = [record for record in records if provenance_of(record)]
    return check_provenance(known, strict=strict) if known else []


def describe_provenance(provenance: Mapping[str, Any]) -> str:
    """One line for a report: code, torch build, device (with the
    kernel-selecting environment variables that are set), threads and the
    image libraries."""
    code = provenance.get('code', {})
    if code.get('commit'):
        version = code['commit'][:10] + (' (uncommitted changes '
                                         f'{code["diff_sha256"][:8]})'
                                         if code.get('dirty') else '')
    else:
        version = f'version {code.get("version")}'
    packages = provenance.get('packages', {})
    build = provenance.get('torch_build', {})
    device = provenance.get('device', {})
    kind = build.get('kind')
    torch_build = f'{kind} {build.get("cuda")}' if build.get('cuda') \
        else kind
    where = device.get('name') or device.get('type')
    if device.get('type') == 'cpu':
        where = f'cpu {where}, {build.get("cpu_capability")} kernels'
    limits = [f'{name}={value}' for name, value in
              (provenance.get('dispatch_env') or {}).items()
              if value is not None]
    if limits:
        where += f' ({", ".join(limits)})'
    return (f'{code.get("package", "code")} {version}; torch '
            f'{packages.get("torch")} ({torch_build} build) on {where}, '
            f'{provenance.get("threads", {}).get("intra_op")} thread(s); '
            f'numpy {packages.get("numpy")}, Pillow {packages.get("pillow")}'
            f', OpenCV {packages.get("opencv")}; mmengine '
            f'{packages.get("mmengine")}, mmcv {packages.get("mmcv")}, '
            f'mmpretrain {packages.get("mmpretrain")}')
