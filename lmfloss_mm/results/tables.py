"""The one table renderer: Markdown (plain or aligned) and CSV.

Every table the project prints or writes (result tables, the paired
report, the demo's comparison, class statistics) is a :class:`Table`.
"""
import csv
import io
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from lmfloss_mm.fileio import atomic_open

__all__ = ['Table', 'numeric_align', 'markdown_table']


def _is_number(text) -> bool:
    if text in ('', 'n/a', 'inf', '–'):
        return True
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def numeric_align(rows: Sequence[Sequence]) -> List[str]:
    """``'r'`` for the columns (after the first) whose cells are all
    numbers, ``'l'`` for the others."""
    width = max((len(r) for r in rows), default=0)
    return ['r' if k > 0 and all(_is_number(r[k]) for r in rows) else 'l'
            for k in range(width)]


def markdown_table(header: Sequence, rows: Sequence[Sequence],
                   align: Optional[Sequence[str]] = None,
                   padded: bool = False) -> str:
    """A Markdown table.

    Args:
        header (Sequence): Column titles.
        rows (Sequence[Sequence]): Cells (converted with ``str``; ``|`` is
            escaped).
        align (Sequence[str], optional): ``'l'`` or ``'r'`` per column.
            Defaults to left everywhere.
        padded (bool): Pad every column to its widest cell, so that the
            text lines up in a terminal. Defaults to False.
    """
    cells = [[str(c).replace('|', '\\|') for c in row]
             for row in [header, *rows]]
    align = list(align or ['l'] * len(header))
    if padded:
        widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
        cells = [[c.rjust(w) if a == 'r' else c.ljust(w)
                  for c, w, a in zip(row, widths, align)] for row in cells]
        rule = '|' + '|'.join('-' * (w + 1) + ':' if a == 'r' else
                              '-' * (w + 2)
                              for w, a in zip(widths, align)) + '|'
    else:
        rule = '|' + '|'.join('---:' if a == 'r' else '---'
                              for a in align) + '|'
    lines = ['| ' + ' | '.join(row) + ' |' for row in cells]
    return '\n'.join([lines[0], rule] + lines[1:])


@dataclass
class Table:
    """One table: Markdown cells (display names, formatted numbers) and,
    optionally, CSV cells (labels and full-precision numbers).

    Args:
        title (str): Heading of the table in a report.
        header (list): Markdown column titles.
        rows (list[list]): Markdown cells.
        csv_header (list, optional): CSV column titles; the Markdown ones
            when None.
        csv_rows (list[list], optional): CSV cells; the Markdown ones when
            None.
        align (list[str], optional): ``'l'`` / ``'r'`` per column.
        note (str): Text printed under the Markdown table.
    """
    title: str
    header: List
    rows: List[List]
    csv_header: Optional[List] = None
    csv_rows: Optional[List[List]] = None
    align: Optional[List[str]] = None
    note: str = ''
    padded: bool = field(default=False)

    def markdown(self) -> str:
        text = markdown_table(self.header, self.rows, self.align,
                              self.padded)
        return f'{text}\n\n{self.note}' if self.note else text

    def csv(self) -> str:
        """The CSV text."""
        out = io.StringIO()
        self._write_csv(out)
        return out.getvalue()

    def write_csv(self, path: str) -> None:
        """Write the CSV file (atomically)."""
        with atomic_open(path, newline='') as f:
            self._write_csv(f)

    def _write_csv(self, f) -> None:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(self.header if self.csv_header is None else
                        self.csv_header)
        writer.writerows(self.rows if self.csv_rows is None else
                         self.csv_rows)
