"""Provenance in the cross-validated benchmark
(:mod:`lmfloss_mm.benchmarking.cross_validation`): the report says what the
runs were made with or warns naming the differing field, and new runs are
refused in a work root whose stored runs were made under another
provenance; folds stored before provenance was recorded are read and not
checked."""
import copy
import json

import pytest

from lmfloss_mm.benchmarking.cross_validation import (SettingsMismatch,
                                                      check_same_provenance,
                                                      collect_records,
                                                      report_notes)
from lmfloss_mm.results import RunRecord
from lmfloss_mm.results.provenance import (collect_provenance,
                                           describe_provenance)

from .test_cross_validation import write_legacy_results


def write_fold(root, loss, fold, provenance):
    """A fold stored by the benchmark: ``runs/<loss>/fold<k>_seed0``."""
    folder = root / 'runs' / loss / f'fold{fold}_seed0'
    folder.mkdir(parents=True)
    stem = f'resnet18-w16_48px_1xb32-{loss}-12e_isic2018-cv'
    record = RunRecord(
        path=str(folder / 'metrics.json'),
        config=f'configs/benchmark/{stem}.py', config_stem=stem, seed=0,
        fold=fold, dataset='isic2018-cv', backbone='resnet18-w16', loss=loss,
        classes=['a', 'b'], metrics={'imbalanced/macro_f1': 40.0 + fold},
        info=dict(settings=dict(preset='cpu', n_folds=2),
                  provenance=provenance))
    (folder / 'metrics.json').write_text(json.dumps(record.to_dict()))


def other_torch(provenance):
    other = copy.deepcopy(provenance)
    other['packages']['torch'] = '2.0.0'
    return other


def test_same_provenance_is_accepted_and_described(tmp_path):
    this = collect_provenance()  # what check_same_provenance compares with
    for fold in (0, 1):
        write_fold(tmp_path, 'ce', fold, this)
    check_same_provenance(str(tmp_path))
    notes = report_notes(collect_records(str(tmp_path)))
    assert f'Made with {describe_provenance(this)}.' in notes
    assert not any('differ' in note for note in notes)


def test_other_torch_version_is_refused_and_flagged(tmp_path):
    this = collect_provenance()
    write_fold(tmp_path, 'ce', 0, this)
    write_fold(tmp_path, 'lmf', 0, other_torch(this))
    with pytest.raises(SettingsMismatch) as error:
        check_same_provenance(str(tmp_path))
    message = str(error.value)
    assert 'were made under another provenance' in message
    assert f"packages.torch differs: {this['packages']['torch']!r} (2 " \
        'run(s): resnet18-w16_48px_1xb32-ce-12e_isic2018-cv/seed-0/fold-0, ' \
        "this process); '2.0.0' (1 run(s): resnet18-w16_48px_1xb32-lmf-12e_" \
        'isic2018-cv/seed-0/fold-0)' in message
    assert 'Use another --work-root, or reproduce the stored conditions' \
        in message
    assert 'docs/benchmark_isic2018.md' in message
    notes = report_notes(collect_records(str(tmp_path)))
    warning = [n for n in notes if 'differ in provenance' in n]
    assert len(warning) == 1 and 'packages.torch differs' in warning[0]
    assert not any(n.startswith('Made with') for n in notes)


def test_first_version_folds_are_not_checked(tmp_path):
    write_legacy_results(tmp_path)  # result.json, no provenance
    records = collect_records(str(tmp_path))
    assert len(records) == 9
    check_same_provenance(str(tmp_path))  # nothing to compare with
    assert not any('provenance' in n or n.startswith('Made with')
                   for n in report_notes(records))
    # new folds next to them: compared among themselves, the old counted
    this = collect_provenance()
    write_fold(tmp_path, 'focal', 0, this)
    check_same_provenance(str(tmp_path))
    notes = report_notes(collect_records(str(tmp_path)))
    assert f'Made with {describe_provenance(this)}. 9 run(s) were stored ' \
        'before provenance was recorded and are not checked.' in notes
