"""The package layers of docs/architecture.md hold: each package imports
only the packages its row lists (module-level, function-level and relative
imports alike)."""
import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / 'lmfloss_mm'


def allowed_imports():
    """``package -> set of packages it may import``, from the doc's table."""
    allowed = {}
    for line in (REPO / 'docs' / 'architecture.md').read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) != 3 or not cells[0].startswith('`'):
            continue
        names = re.findall(r'`([a-z_]+)`', cells[0])
        may = set(re.findall(r'`([a-z_]+)`', cells[2]))
        for name in names:
            allowed[name] = may
    return allowed


def imported_packages(path: Path, own: str):
    """The ``lmfloss_mm`` sub-packages a module imports."""
    tree = ast.parse(path.read_text(), str(path))
    depth = len(path.relative_to(PACKAGE).parts) - 1  # folders below lmfloss_mm
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's folder
                parts = list(path.relative_to(PACKAGE).parts[:-1])
                parts = parts[:len(parts) - (node.level - 1)]
                module = '.'.join(['lmfloss_mm', *parts] + (
                    [node.module] if node.module else []))
                names = [module] if node.module or parts else [
                    f'lmfloss_mm.{alias.name}' for alias in node.names]
            else:
                names = [node.module or '']
        else:
            continue
        for name in names:
            parts = name.split('.')
            if parts[0] == 'lmfloss_mm' and len(parts) > 1:
                found.add(parts[1])
    assert depth >= 0
    return found - {own}


def package_of(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first[:-3] if first.endswith('.py') else first


def test_every_package_has_a_row_and_imports_only_what_it_may():
    allowed = allowed_imports()
    packages = {package_of(p) for p in PACKAGE.rglob('*.py')} - {'__init__'}
    assert packages <= set(allowed), sorted(packages - set(allowed))
    wrong = []
    for path in sorted(PACKAGE.rglob('*.py')):
        own = package_of(path)
        if own == '__init__':
            continue
        for imported in sorted(imported_packages(path, own)):
            if imported not in allowed[own]:
                wrong.append(f'{path.relative_to(REPO)} imports {imported}')
    assert not wrong, wrong


def test_the_table_is_an_order():
    """No cycles: each row may import only rows above it."""
    order = list(allowed_imports())
    for index, name in enumerate(order):
        assert allowed_imports()[name] <= set(order[:index]), name
