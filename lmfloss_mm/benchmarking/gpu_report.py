"""``report.md`` of the GPU benchmark (:mod:`.gpu`): the part table, then
one section per part (test outcomes, loss-speed table, throughput tables
with the LMF / CE ratios, the cross-validation report)."""
import os.path as osp
from typing import Callable, Dict, List

from lmfloss_mm.results.tables import markdown_table

__all__ = ['format_report']


def _num(value: float) -> str:
    """A rate or time with 3 significant digits, no exponent."""
    return f'{value:.0f}' if abs(value) >= 100 else f'{value:.3g}'


def _tests_section(record: dict, settings: dict) -> List[str]:
    files = sorted({node.split('::')[0] for node in record['selected']})
    lines = [f'The {len(record["selected"])} tests that a `skipif` mark '
             f'skips without CUDA (in {", ".join(files)}): '
             f'**{record["summary"] or "no summary line"}**.', '']
    return lines + [f'- {line}' for line in record['outcomes']]


def _losses_section(record: dict, settings: dict) -> List[str]:
    rows = record['rows']
    if not rows:
        return ['No result table in the output.']
    header = list(rows[0])
    return [markdown_table(header, [[row.get(h, '') for h in header]
                                    for row in rows])]


def _throughput_section(record: dict, settings: dict) -> List[str]:
    rows = record['rows']
    if not rows:
        return ['No measurement finished.']
    first = rows[0]
    lines = [
        f'Batch {first["batch_size"]}, {first["img_size"]} px, mixed '
        f'precision {first["amp"] or "off (float32)"}, '
        f'{first["device_name"]}, torch {first["torch"]}; forward + loss + '
        'backward + Adam step (`model.train_step`), synchronised timing '
        'after warm-up; resident: median of the repeats.', '']
    cells = []
    for row in rows:
        source = row['source']
        if source == 'loader':
            source += (f', {row["workers"]} workers, ' + (
                'cached' if row['cache_images'] else 'decoded every step'))
        peak = row.get('peak_mem_gib')
        cells.append([row['arch'], row['loss'], source, row['memory_format'],
                      _num(row['images_per_s']), _num(row['step_ms']),
                      '' if peak is None else f'{peak:.1f}'])
    lines.append(markdown_table(
        ['arch', 'loss', 'source', 'memory format', 'images/s', 'ms/step',
         'peak GiB'], cells))
    if record.get('skipped'):
        lines += ['', f'Skipped for the budget: '
                  f'{", ".join(record["skipped"])}.']
    pairs = record['lmf_vs_ce']
    if pairs:
        cells = []
        for p in pairs:
            source = p['source'] + ('' if p['cache_images'] is None else
                                    ', cached' if p['cache_images'] else
                                    ', decoded')
            cells.append([p['arch'], source, p['memory_format'],
                          _num(p['ce_images_per_s']),
                          _num(p['lmf_images_per_s']), f'{p["ratio"]:.3f}'])
        lines += ['', markdown_table(
            ['arch', 'source', 'memory format', 'CE images/s',
             'LMF images/s', 'LMF / CE'], cells)]
    return lines


def _cv_section(record: dict, settings: dict) -> List[str]:
    lines = [
        f'Folds done {record["folds_done"]}, failed '
        f'{record["folds_failed"]}, not started '
        f'{record["folds_not_started"]}; slowest fold '
        f'{record["slowest_fold_s"]:.0f} s. Command (one call per fold, '
        '`--run-folds k`):', '', f'    {record["command"]}', '']
    path = osp.join(osp.abspath(settings['out']), 'cv_results.md')
    if not osp.isfile(path):
        return lines + ['No stored result.']
    with open(path, encoding='utf-8') as f:
        text = '\n' + f.read()
    return lines + [text.replace('\n# ', '\n### ').replace(
        '\n## ', '\n### ').strip('\n')]


#: Part name -> the writer of its section.
SECTION_WRITERS: Dict[str, Callable[[dict, dict], List[str]]] = dict(
    tests=_tests_section, losses=_losses_section,
    throughput=_throughput_section, cv=_cv_section)


def format_report(data: dict) -> str:
    """``report.md`` of the data written to ``results.json``
    (``environment``, ``settings``, ``elapsed_s``, ``parts``)."""
    env, settings, parts = (data['environment'], data['settings'],
                            data['parts'])
    lines = [
        '# lmfloss-mm GPU check and benchmark', '',
        f'Started {env["started"]}; {data["elapsed_s"]:.0f} s of the '
        f'{settings["budget_s"]:.0f} s budget used. Device '
        f'`{settings["device"]}`' + (f' ({env["gpu"]})' if env['gpu']
                                     else '') +
        f', {env["cpus"]} CPUs, Python {env["python"]}, ' + ', '.join(
            f'{k} {v}' for k, v in env['packages'].items()) + '.', '',
        markdown_table(['part', 'status', 'seconds', 'budget (s)'], [
            [name, record['status'], f'{record.get("seconds", 0):.0f}',
             f'{record.get("budget_s", 0):.0f}']
            for name, record in parts.items()])]
    for name, record in parts.items():
        lines += ['', f'## {name}', '']
        if record.get('error'):
            lines += [f'Error: `{record["error"]}`', '']
        writer = SECTION_WRITERS.get(name)
        if writer is not None and record['status'] != 'skipped':
            lines += writer(record, settings)
        command = record.get('command')
        tail = command.get('tail') if isinstance(command, dict) else None
        if record['status'] not in ('ok', 'skipped') and tail:
            lines += ['', 'Last output lines:', '', '```', *tail[-20:],
                      '```']
    return '\n'.join(lines) + '\n'
