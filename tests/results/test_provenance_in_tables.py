"""Provenance stored with the runs and checked by ``tools/make_tables.py``:
records that differ in their torch version are flagged (or refused with
``--strict-provenance``) naming the field, records of one provenance are
not, and records stored before provenance was recorded are read and not
checked."""
import copy
import json

import pytest

from lmfloss_mm.results import RunRecord, load_runs
from lmfloss_mm.results.provenance import (MixedProvenanceError,
                                           check_stored_provenance,
                                           collect_provenance,
                                           describe_provenance,
                                           provenance_of)


@pytest.fixture(scope='module')
def provenance():
    return collect_provenance(device='cpu')


def with_torch(provenance, version):
    other = copy.deepcopy(provenance)
    other['packages']['torch'] = version
    return other


def write_run(root, loss, seed, f1, provenance=None):
    """A grid run ``<root>/<stem>/seed-<seed>/metrics.json``."""
    stem = f'resnet50_in1k-pre_1xb32-{loss}-100e_odir5k'
    folder = root / stem / f'seed-{seed}'
    folder.mkdir(parents=True)
    info = {} if provenance is None else dict(provenance=provenance)
    record = RunRecord(
        path=str(folder / 'metrics.json'), config=f'configs/odir5k/{stem}.py',
        config_stem=stem, seed=seed, fold=None, dataset='odir5k',
        backbone='resnet50', loss=loss, classes=['N', 'D'],
        metrics={'imbalanced/macro_f1': f1, 'imbalanced/accuracy': f1 + 10},
        info=info)
    (folder / 'metrics.json').write_text(json.dumps(record.to_dict()))


def make_tables(load_tool, root, tmp_path, *options):
    out = tmp_path / 'tables'
    code = load_tool('make_tables').main(
        [str(root), '--out-dir', str(out), '--quiet', *options])
    return code, out / 'results.md'


def test_stored_provenance_is_read_back(tmp_path, provenance):
    write_run(tmp_path, 'ce', 0, 50.0, provenance)
    write_run(tmp_path, 'lmf', 0, 55.0)  # stored before provenance existed
    runs = {r.loss: r for r in load_runs([str(tmp_path)])}
    assert provenance_of(runs['ce']) == provenance
    assert provenance_of(runs['lmf']) is None
    assert runs['lmf'].metric('macro_f1') == 55.0
    # only stored provenances are compared
    assert check_stored_provenance(list(runs.values())) == []
    assert check_stored_provenance([runs['lmf']]) == []


def test_different_torch_versions_are_flagged_or_refused(
        tmp_path, provenance, load_tool, capsys):
    root = tmp_path / 'work'
    write_run(root, 'ce', 0, 50.0, provenance)
    write_run(root, 'lmf', 0, 55.0, with_torch(provenance, '2.0.0'))
    runs = load_runs([str(root)])
    with pytest.raises(MixedProvenanceError, match='packages.torch differs'):
        check_stored_provenance(runs)
    messages = check_stored_provenance(runs, strict=False)
    assert len(messages) == 1
    assert messages[0].startswith('packages.torch differs: ')
    assert "'2.0.0' (1 run(s): resnet50_in1k-pre_1xb32-lmf-100e_odir5k/" \
        'seed-0)' in messages[0]
    assert f"{provenance['packages']['torch']!r} (1 run(s): resnet50_in1k-" \
        'pre_1xb32-ce-100e_odir5k/seed-0)' in messages[0]

    # flagged: the tables are written, with the warning
    code, markdown = make_tables(load_tool, root, tmp_path)
    err = capsys.readouterr().err
    assert code == 0
    assert 'WARNING: the runs differ in provenance' in err
    assert 'packages.torch differs' in err
    section = markdown.read_text().split('## Provenance')[1]
    assert '**Warning:** the runs were made under different provenance' \
        in section
    assert f'- {messages[0]}' in section

    # refused with --strict-provenance: nothing written
    markdown.unlink()
    code, markdown = make_tables(load_tool, root, tmp_path,
                                 '--strict-provenance')
    err = capsys.readouterr().err
    assert code == 1
    assert 'error: the runs were made under different provenance' in err
    assert 'packages.torch differs' in err
    assert not markdown.exists()


def test_one_provenance_is_described(tmp_path, provenance, load_tool,
                                     capsys):
    root = tmp_path / 'work'
    write_run(root, 'ce', 0, 50.0, provenance)
    write_run(root, 'lmf', 0, 55.0, copy.deepcopy(provenance))
    code, markdown = make_tables(load_tool, root, tmp_path,
                                 '--strict-provenance')
    assert code == 0
    assert 'WARNING' not in capsys.readouterr().err
    section = markdown.read_text().split('## Provenance')[1]
    assert section.strip() == \
        f'Made with {describe_provenance(provenance)}.'


def test_runs_without_provenance_are_read_and_not_checked(
        tmp_path, provenance, load_tool, capsys):
    root = tmp_path / 'work'
    write_run(root, 'ce', 0, 50.0)
    write_run(root, 'ce', 1, 52.0)
    write_run(root, 'lmf', 0, 55.0, provenance)
    code, markdown = make_tables(load_tool, root, tmp_path,
                                 '--strict-provenance')
    assert code == 0
    assert 'WARNING' not in capsys.readouterr().err
    text = markdown.read_text()
    assert '| ODIR-5K | ResNet-50 | 51.00 ± 1.41 (n=2) | 55.00 (n=1) |' \
        in text
    section = text.split('## Provenance')[1]
    assert f'Made with {describe_provenance(provenance)}.' in section
    assert '2 of 3 runs store no provenance (made before it was recorded): '\
        'not checked.' in section
