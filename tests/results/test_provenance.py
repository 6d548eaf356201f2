"""lmfloss_mm.results.provenance: what made a result (code, libraries,
threads, flags, device), its comparability key, and the check that refuses
a table mixing provenances."""
import copy
import importlib.metadata as metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys

import pytest
import torch

from lmfloss_mm.results import RunRecord
from lmfloss_mm.results.provenance import (KEY_FIELDS, MixedProvenanceError,
                                           check_provenance, code_version,
                                           collect_provenance,
                                           describe_provenance,
                                           provenance_differences,
                                           provenance_key)

needs_git = pytest.mark.skipif(shutil.which('git') is None,
                               reason='git is not installed')


@pytest.fixture(scope='module')
def provenance():
    return collect_provenance(device='cpu')


def _distribution_version(*names):
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def test_packages_are_the_installed_versions(provenance):
    packages = provenance['packages']
    # independent source: the installed distributions' metadata (without
    # the local build tag such as +cu130 that the modules report)
    assert packages['torch'].split('+')[0] == metadata.version('torch')
    assert packages['torchvision'].split('+')[0] == \
        metadata.version('torchvision')
    assert packages['numpy'] == metadata.version('numpy')
    assert packages['pillow'] == _distribution_version('pillow', 'Pillow')
    assert packages['mmengine'] == metadata.version('mmengine')
    assert packages['mmcv'] == _distribution_version('mmcv', 'mmcv-lite')
    assert packages['mmpretrain'] == metadata.version('mmpretrain')
    opencv = _distribution_version('opencv-python', 'opencv-python-headless',
                                   'opencv-contrib-python')
    # opencv-python 5.1.0.95 is OpenCV 5.1.0
    assert opencv.startswith(packages['opencv'] + '.')
    assert provenance['python'].startswith(
        '.'.join(map(str, sys.version_info[:3])) + ' (')


def test_torch_build_and_device(provenance):
    build = provenance['torch_build']
    # independent source: the build settings torch prints
    config = torch.__config__.show()
    cuda = re.search(r'CUDA_VERSION=([0-9.]+)', config)
    assert build['cuda'] == (cuda.group(1) if cuda else None) or \
        build['kind'] == 'rocm'
    assert build['kind'] == ('cuda' if cuda else
                             'rocm' if 'USE_ROCM=ON' in config else 'cpu')
    capability = re.search(r'CPU capability usage: (\w+)', config)
    if capability:
        assert build['cpu_capability'] == capability.group(1)
    device = provenance['device']
    assert device['type'] == 'cpu'
    if not os.path.isfile('/proc/cpuinfo'):
        pytest.skip('no /proc/cpuinfo to check the CPU model against')
    with open('/proc/cpuinfo') as f:
        text = f.read()
    model = re.search(r'^model name\s*:\s*(.*)$', text, re.M)
    if model:
        assert device['name'] == model.group(1).strip()
        assert provenance['machine']['cpu'] == model.group(1).strip()
    flags = re.search(r'^flags\s*:\s*(.*)$', text, re.M)
    if flags:
        has = set(flags.group(1).split())
        for isa in ('avx2', 'avx512f'):
            assert (isa in device['capability'].split()) == (isa in has)
    assert provenance['machine']['cores'] == os.cpu_count()


def test_no_host_name_or_home_folder(provenance):
    text = json.dumps(provenance)
    node = platform.node()
    if len(node) >= 4:
        assert node not in text
    home = os.path.expanduser('~')
    if len(home) > 1:
        assert home not in text


def test_threads_and_determinism_flags_are_read_at_call_time():
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(False)
        one = collect_provenance(device='cpu')
        torch.set_num_threads(2)
        torch.use_deterministic_algorithms(True, warn_only=True)
        two = collect_provenance(device='cpu')
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic,
                                           warn_only=warn_only)
    assert one['threads']['intra_op'] == 1
    assert two['threads']['intra_op'] == 2
    assert one['determinism']['deterministic_algorithms'] is False
    assert two['determinism']['deterministic_algorithms'] is True
    assert two['determinism']['deterministic_warn_only'] is True
    differing = {name for (name, a), (_, b) in zip(provenance_key(one),
                                                   provenance_key(two))
                 if a != b}
    assert differing == {'threads.intra_op',
                         'determinism.deterministic_algorithms'}


def test_kernel_dispatch_is_recorded(tmp_path):
    """The CPU kernels torch was told to use (ATEN_CPU_CAPABILITY, read when
    torch is imported) and the oneDNN / MKL limits."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY='default',
               ONEDNN_MAX_CPU_ISA='AVX2')
    out = tmp_path / 'provenance.json'
    code = ('import json, sys; from lmfloss_mm.results.provenance import '
            'collect_provenance; json.dump(collect_provenance("cpu"), '
            'open(sys.argv[1], "w"))')
    subprocess.run([sys.executable, '-c', code, str(out)], env=env,
                   check=True, timeout=300)
    provenance = json.loads(out.read_text())
    assert provenance['torch_build']['cpu_capability'] == 'DEFAULT'
    assert provenance['dispatch_env']['ATEN_CPU_CAPABILITY'] == 'default'
    assert provenance['dispatch_env']['ONEDNN_MAX_CPU_ISA'] == 'AVX2'
    assert provenance['dispatch_env']['MKL_CBWR'] == os.environ.get(
        'MKL_CBWR')


def test_key_survives_json_and_keeps_only_key_fields(provenance):
    key = provenance_key(provenance)
    assert [name for name, _ in key] == list(KEY_FIELDS)
    hash(key)
    assert provenance_key(json.loads(json.dumps(provenance))) == key
    other = copy.deepcopy(provenance)
    other['python'] = '3.99.0 (CPython)'
    other['machine']['cores'] = 1024
    other['threads']['inter_op'] = 77
    assert provenance_key(other) == key
    other['packages']['pillow'] = '0.0.1'
    assert dict(provenance_key(other))['packages.pillow'] == '0.0.1'
    assert provenance_key(other) != key
    with pytest.raises(TypeError, match='collect_provenance'):
        provenance_key(['not', 'a', 'dict'])
    # a list in a stored provenance (a later layout) still gives a key
    other['torch_build']['cuda'] = ['13', '0']
    assert dict(provenance_key(other))['torch_build.cuda'] == '["13", "0"]'


def test_describe_names_code_torch_build_and_kernels(provenance):
    line = describe_provenance(provenance)
    assert f'torch {torch.__version__} ' in line
    assert f'{provenance["torch_build"]["cpu_capability"]} kernels' in line
    assert f'{provenance["threads"]["intra_op"]} thread(s)' in line
    limited = copy.deepcopy(provenance)
    limited['dispatch_env']['ONEDNN_MAX_CPU_ISA'] = 'AVX2'
    assert 'ONEDNN_MAX_CPU_ISA=AVX2' in describe_provenance(limited)


# ------------------------------------------------------------ code version
def _git(cwd, *args):
    return subprocess.run(
        ['git', '-c', 'user.name=t', '-c', 'user.email=t@example.org',
         '-c', 'commit.gpgsign=false', *args], cwd=cwd, check=True,
        capture_output=True, text=True).stdout


def _package(root, version='1.2.3'):
    package = root / 'mypkg'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text(f"__version__ = '{version}'\n")
    (package / 'core.py').write_text('VALUE = 1\n')
    return package


def _head_from_files(root):
    """HEAD's commit read from the .git folder, without git."""
    head = (root / '.git' / 'HEAD').read_text().strip()
    assert head.startswith('ref: ')
    return (root / '.git' / head[5:]).read_text().strip()


@needs_git
def test_code_version_of_a_git_checkout(tmp_path):
    package = _package(tmp_path)
    (tmp_path / '.gitignore').write_text('ignored/\n')
    _git(tmp_path, 'init', '-q')
    _git(tmp_path, 'add', '.')
    _git(tmp_path, 'commit', '-q', '-m', 'first')
    clean = code_version(str(package))
    assert clean == dict(package='mypkg', version='1.2.3',
                         commit=_head_from_files(tmp_path), dirty=False,
                         diff_sha256=None)

    (tmp_path / 'ignored').mkdir()
    (tmp_path / 'ignored' / 'run.log').write_text('not code')
    (tmp_path / 'README.md').write_text('# documentation is not code\n')
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'guide.txt').write_text('neither is this')
    assert code_version(str(package)) == clean

    (package / 'core.py').write_text('VALUE = 2\n')
    two = code_version(str(package))
    (package / 'core.py').write_text('VALUE = 3\n')
    three = code_version(str(package))
    assert two['dirty'] and three['dirty']
    assert two['commit'] == three['commit'] == clean['commit']
    assert len(two['diff_sha256']) == 64
    assert two['diff_sha256'] != three['diff_sha256']
    assert code_version(str(package)) == three  # same state, same digest

    (package / 'core.py').write_text('VALUE = 1\n')
    (package / 'new.py').write_text('NEW = 1\n')  # untracked
    untracked = code_version(str(package))
    assert untracked['dirty'] is True
    (package / 'new.py').write_text('NEW = 2\n')
    assert code_version(str(package))['diff_sha256'] != \
        untracked['diff_sha256']
    (package / 'new.py').unlink()
    assert code_version(str(package)) == clean


@needs_git
def test_collect_reads_the_code_version_once_per_process(tmp_path):
    package = _package(tmp_path)
    _git(tmp_path, 'init', '-q')
    _git(tmp_path, 'add', '.')
    _git(tmp_path, 'commit', '-q', '-m', 'first')
    first = collect_provenance('cpu', package_dir=str(package))['code']
    (package / 'core.py').write_text('VALUE = 2\n')  # after the import
    assert collect_provenance('cpu', package_dir=str(package))['code'] == \
        first == dict(code_version(str(package)), dirty=False,
                      diff_sha256=None)


@needs_git
def test_code_version_outside_a_checkout(tmp_path):
    # a package that only lies inside another repository (a virtual
    # environment in a checkout) is not that repository's code
    package = _package(tmp_path / 'venv' / 'site-packages', version='0.9')
    _git(tmp_path, 'init', '-q')
    assert code_version(str(package)) == dict(
        package='mypkg', version='0.9', commit=None, dirty=None,
        diff_sha256=None)
    lone = _package(tmp_path.parent / f'{tmp_path.name}-lone')
    assert code_version(str(lone))['commit'] is None
    assert code_version(str(lone))['version'] == '1.2.3'


# --------------------------------------------------------- the mixing check
def _runs(provenance, count=3, edit=None):
    """``count`` run dicts with copies of ``provenance``; ``edit`` maps a
    run index to a function that changes its copy."""
    runs = []
    for index in range(count):
        own = copy.deepcopy(provenance)
        if edit and index in edit:
            edit[index](own)
        runs.append(dict(name=f'lmf/fold{index}', provenance=own))
    return runs


def test_same_provenance_passes(provenance):
    runs = _runs(provenance)
    runs[1]['provenance']['machine']['cores'] = 64  # recorded, not compared
    assert check_provenance(runs) == []
    assert provenance_differences(runs) == {}


def test_mixed_provenance_is_refused_naming_fields_values_and_runs(
        provenance):
    def older_torch(p):
        p['packages']['torch'] = '2.13.0+cpu'

    def seven_threads(p):
        p['threads']['intra_op'] = 7

    runs = _runs(provenance, edit={0: older_torch, 2: seven_threads})
    differences = provenance_differences(runs)
    assert set(differences) == {'packages.torch', 'threads.intra_op'}
    assert differences['packages.torch'] == {
        '2.13.0+cpu': ['lmf/fold0'],
        provenance['packages']['torch']: ['lmf/fold1', 'lmf/fold2']}
    assert differences['threads.intra_op'] == {
        provenance['threads']['intra_op']: ['lmf/fold0', 'lmf/fold1'],
        7: ['lmf/fold2']}

    with pytest.raises(MixedProvenanceError) as error:
        check_provenance(runs)
    message = str(error.value)
    assert "packages.torch differs: '2.13.0+cpu' (1 run(s): lmf/fold0)" \
        in message
    assert 'threads.intra_op differs' in message
    assert '7 (1 run(s): lmf/fold2)' in message
    assert 'separate tables' in message

    flagged = check_provenance(runs, strict=False)
    assert [m.split(' ')[0] for m in flagged] == ['packages.torch',
                                                  'threads.intra_op']


def test_cpu_instruction_set_alone_is_a_difference(provenance):
    def avx2_machine(p):
        p['device']['capability'] = 'sse4_2 avx fma avx2'

    runs = _runs(provenance, count=2, edit={1: avx2_machine})
    if provenance['device']['capability'] == 'sse4_2 avx fma avx2':
        runs[0]['provenance']['device']['capability'] = 'sse4_2 avx'
    assert list(provenance_differences(runs)) == ['device.capability']
    with pytest.raises(MixedProvenanceError, match='device.capability'):
        check_provenance(runs)


def test_runs_without_provenance_are_named(provenance):
    runs = _runs(provenance, count=2) + [dict(name='ce/fold0')]
    with pytest.raises(MixedProvenanceError,
                       match=r'no provenance stored .*1 run\(s\): ce/fold0'):
        check_provenance(runs)
    assert check_provenance([dict(name='a'), dict(name='b')],
                            strict=False) == [
        'no provenance stored (made before provenance was recorded, or by '
        'other code): 2 run(s): a, b']


def test_run_records_are_checked_by_name(provenance):
    def record(fold, prov):
        return RunRecord(path=f'runs/lmf/fold{fold}', config='',
                         config_stem='resnet18-lmf', seed=0, fold=fold,
                         dataset='isic2018-cv', backbone='resnet18',
                         loss='lmf', classes=None, metrics={},
                         info=dict(provenance=prov))

    other = copy.deepcopy(provenance)
    other['code'].update(commit='0' * 40, dirty=False, diff_sha256=None)
    records = [record(0, provenance), record(1, other)]
    with pytest.raises(MixedProvenanceError,
                       match=r'code.commit differs.*resnet18-lmf/seed-0/'
                       r'fold-1'):
        check_provenance(records)
    assert check_provenance(records[:1]) == []
    with pytest.raises(TypeError, match='RunRecord or a dict'):
        check_provenance([42])
