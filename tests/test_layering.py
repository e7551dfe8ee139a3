"""The import layering of `workbench/` and `strategies/`, checked from the source (ast).

The layers, bottom to top:

- **core**: every module of `workbench/` except the shells below. Headless: it never
  imports Textual, the TUI, the command line or its presentation module.
- **strategies** (`strategies/`): plug-ins. They import the standard library, third-party
  packages, each other, and of the workbench only its public strategy API,
  `workbench.strategy_api`.
- **shells**: the console-script entry point `workbench.entry`, `workbench.cli` with
  its presentation module `workbench.console_format`, and the TUI package `workbench.tui`. Only `workbench.tui` imports Textual; the command
  line reaches the TUI through one function-level import in `cmd_tui` (`workbench tui`).
  Nothing imports a shell module except the shells themselves.

And no import cycle anywhere. Imports are counted in two kinds: module-level (run when
the module is imported, including those in class bodies and `try` blocks) and
function-level (lazy: run when the function is first called). A cycle made only of
module-level imports breaks at import time; a cycle through lazy imports works until
someone moves one of them to the top, and it means the two modules are one unit split in
two. Both are failures. A lazy edge may be allowlisted in `LAZY_CYCLE_ALLOWED` with a
reason (one entry: the package's lazy `workbench.api` attribute), and an entry that no
longer names a lazy import fails too.
Imports under `if TYPE_CHECKING:` never run and are ignored.

Two kinds of edges the source does not spell: importing `a.b.c` first runs `a/__init__`
and `a/b/__init__` (edges to those packages, except a module's own ancestors, which
Python has already started), and the two registries (`strategies`,
`workbench.backends`) import every public module of their package by discovery (edges
from the package to each of them; `test_discovery_edges_match_what_registries_import`
checks that this is what they import).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("workbench", "strategies")
SHELLS = ("workbench.entry", "workbench.cli", "workbench.console_format")  # plus the workbench.tui package
TUI = "workbench.tui"
STRATEGY_API = "workbench.strategy_api"
# (importing module, function) pairs allowed to import the TUI, lazily.
TUI_ENTRY_POINTS = {("workbench.cli", "cmd_tui")}
# Packages that import each of their public modules by discovery (see module docstring).
DISCOVERING = ("strategies", "workbench.backends")
# (importer, imported) lazy imports allowed to close a cycle, with the reason.
LAZY_CYCLE_ALLOWED: dict[tuple[str, str], str] = {
    ("workbench", "workbench.api"): (
        "PEP 562 attribute: `workbench.api` is imported only when that attribute is asked for, never while "
        "the package's __init__ runs (every module runs it first); it must stay lazy so that `import "
        "workbench` stays cheap, and at module level it would be a real cycle"
    ),
}


@dataclass(frozen=True)
class Import:
    importer: str  # the importing module, e.g. "workbench.bench"
    target: str  # what it names, resolved to absolute: "workbench.models", "textual.app"
    line: int
    function: str | None  # the enclosing function of a lazy import; None at module level

    @property
    def kind(self) -> str:
        return "module-level" if self.function is None else "function-level"

    def describe(self) -> str:
        where = f"in {self.function}()" if self.function else "at module level"
        return f"{self.importer} imports {self.target} ({self.kind}, line {self.line}, {where})"


def find_modules(root: Path, packages=PACKAGES) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package __init__)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            modules[".".join(parts)] = (path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, is_package: bool, modules) -> list[Import]:
    """Every import statement of one module, with its kind."""
    found: list[Import] = []

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module
        # `from pkg import name`: a submodule when pkg.name is one, else an attribute of pkg
        return [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]

    def walk(node, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:  # the else branch does run
                    walk(ast.Module(body=[sub], type_ignores=[]), function)
                continue
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Lambda):
                inner = function or "<lambda>"
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in targets(child):
                    found.append(Import(module, target, child.lineno, function))
            walk(child, inner)

    walk(ast.parse(path.read_text(encoding="utf-8"), str(path)), None)
    return found


def all_imports(root: Path = ROOT, packages=PACKAGES) -> list[Import]:
    modules = find_modules(root, packages)
    return [i for name, (path, is_pkg) in modules.items() for i in imports_of(name, path, is_pkg, modules)]


def _own(target: str, modules) -> str | None:
    """The module of ours an import runs: the longest known prefix of its target."""
    while target:
        if target in modules:
            return target
        target = target.rpartition(".")[0]
    return None


def import_graph(root: Path = ROOT, packages=PACKAGES, discovering=DISCOVERING) -> dict[str, dict[str, Import]]:
    """importer -> {imported module of ours -> the import that runs it}; a module-level
    import wins over a lazy one for the same pair (it is the stronger tie)."""
    modules = find_modules(root, packages)
    graph: dict[str, dict[str, Import]] = {m: {} for m in modules}

    def add(edge: Import, target: str) -> None:
        if target == edge.importer:
            return
        current = graph[edge.importer].get(target)
        if current is None or (current.function is not None and edge.function is None):
            graph[edge.importer][target] = Import(edge.importer, target, edge.line, edge.function)

    for edge in all_imports(root, packages):
        target = _own(edge.target, modules)
        if target is None:
            continue
        add(edge, target)
        ancestors = {".".join(edge.importer.split(".")[:i]) for i in range(1, edge.importer.count(".") + 1)}
        parts = target.split(".")
        for i in range(1, len(parts)):
            package = ".".join(parts[:i])
            if package not in ancestors and package in modules:
                add(edge, package)  # importing a.b.c runs a/__init__ and a/b/__init__ first
    for package in discovering:
        if package not in modules:
            continue
        for name in discovered_modules(root, package):
            add(Import(package, name, 0, None), name)
    return graph


def discovered_modules(root: Path, package: str) -> list[str]:
    """The modules a discovering registry imports: its package's public top-level modules."""
    folder = root.joinpath(*package.split("."))
    return sorted(f"{package}.{p.stem}" for p in folder.glob("*.py") if not p.stem.startswith("_"))


def find_cycles(graph: dict[str, dict[str, Import]], allowed=LAZY_CYCLE_ALLOWED) -> list[list[Import]]:
    """One cycle (as its import edges) per strongly connected group of modules."""
    edges = {
        a: {b: e for b, e in targets.items() if not (e.function is not None and (a, b) in allowed)}
        for a, targets in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(edges):  # Tarjan's algorithm, iterative: no recursion limit
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return [_cycle_in(group, edges) for group in groups]


def _cycle_in(group: list[str], edges) -> list[Import]:
    """A shortest cycle through the group's first module (breadth-first)."""
    members, first = set(group), group[0]
    came_from: dict[str, Import] = {}
    frontier = [first]
    while frontier:
        following = []
        for node in frontier:
            for target, edge in sorted(edges[node].items()):
                if target == first:
                    path = [edge]
                    while node != first:
                        path.append(came_from[node])
                        node = came_from[node].importer
                    return path[::-1]
                if target in members and target not in came_from:
                    came_from[target] = edge
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {first} in {group}")  # pragma: no cover


def layering_violations(root: Path = ROOT, packages=PACKAGES) -> list[str]:
    """Every import that breaks the rules of the module docstring, as one line each."""
    problems = []
    for edge in all_imports(root, packages):
        src, target = edge.importer, edge.target
        in_tui = src == TUI or src.startswith(TUI + ".")
        if not in_tui and (target == "textual" or target.startswith("textual.")):
            problems.append(f"{edge.describe()}: only {TUI} may import Textual")
        if not in_tui and (target == TUI or target.startswith(TUI + ".")):
            if edge.function is None or (src, edge.function) not in TUI_ENTRY_POINTS:
                problems.append(f"{edge.describe()}: only the `workbench tui` entry point (cli.cmd_tui) may import the TUI, lazily")
        if src not in SHELLS and any(target == s or target.startswith(s + ".") for s in SHELLS):
            problems.append(f"{edge.describe()}: the command line and its presentation are a shell; nothing below imports them")
        if (src == "strategies" or src.startswith("strategies.")) and (target == "workbench" or target.startswith("workbench.")):
            if target != STRATEGY_API:
                problems.append(f"{edge.describe()}: a strategy may use the workbench only through {STRATEGY_API}")
    return problems


def _format_cycle(cycle: list[Import]) -> str:
    return " -> ".join([cycle[0].importer] + [f"{e.target} [{e.kind}, {e.importer}:{e.line}]" for e in cycle])


# --------------------------------------------------------------------------- the checks


def test_the_parser_sees_both_kinds_of_import():
    """Guards the checks below against a parser that silently finds nothing."""
    imports = all_imports()
    kinds = {(i.importer, i.target, i.kind) for i in imports}
    assert ("workbench.conversion", "workbench.errors", "module-level") in kinds
    assert ("workbench.cli", "workbench.tui", "function-level") in kinds  # cmd_tui
    assert ("strategies.lexicon_correction", STRATEGY_API, "module-level") in kinds
    counts = {kind: sum(1 for i in imports if i.kind == kind) for kind in ("module-level", "function-level")}
    assert counts["module-level"] > 200 and counts["function-level"] > 50, counts
    # TYPE_CHECKING-only imports never run: widgets names the app only for type hints
    assert not any(i.importer == "workbench.tui.widgets" and i.target == "workbench.tui.app" for i in imports)


def test_layering_rules_hold():
    problems = layering_violations()
    assert not problems, "\n".join(problems)


def test_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(_format_cycle(c) for c in cycles)


def test_no_module_level_import_cycle():
    """Reported on its own: such a cycle fails at import time, whatever the allowlist says."""
    graph = {a: {b: e for b, e in t.items() if e.function is None} for a, t in import_graph().items()}
    cycles = find_cycles(graph, allowed={})
    assert not cycles, "module-level import cycles:\n" + "\n".join(_format_cycle(c) for c in cycles)


def test_lazy_cycle_allowlist_names_only_lazy_imports():
    graph = import_graph()
    for (a, b), reason in LAZY_CYCLE_ALLOWED.items():
        edge = graph.get(a, {}).get(b)
        assert edge is not None and edge.function is not None, f"allowlist entry {a} -> {b} is not a lazy import"
        assert reason.strip(), f"allowlist entry {a} -> {b} needs a reason"


def test_discovery_edges_match_what_registries_import():
    """The registries import exactly their public modules, as the graph above assumes."""
    code = (
        f"import importlib, sys\nfor p in {DISCOVERING!r}:\n    importlib.import_module(p)\n"
        f"for p in {DISCOVERING!r}:\n"
        "    print(p, ' '.join(sorted(m for m in sys.modules if m.startswith(p + '.') and m.count('.') == p.count('.') + 1)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    loaded = dict(line.split(" ", 1) for line in out.strip().splitlines())
    for package in DISCOVERING:
        names = set(loaded[package].split())
        public = {m for m in names if not m.rpartition(".")[2].startswith("_")}
        assert public == set(discovered_modules(ROOT, package)), package


def test_headless_modules_never_load_textual():
    """Importing the command line and every core module leaves Textual unloaded."""
    modules = find_modules(ROOT)
    headless = sorted(m for m in modules if not (m == TUI or m.startswith(TUI + ".")))
    code = "import importlib, sys\n" f"for m in {headless!r}:\n    importlib.import_module(m)\n" "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout
    assert "workbench.cli" in headless and "strategies" in headless


# --------------------------------------------------------------------------- the checker itself


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_checker_reports_a_cycle_through_a_lazy_import(tmp_path):
    root = _package(tmp_path, {
        "workbench/__init__.py": "",
        "workbench/a.py": "from .b import x\n",
        "workbench/b.py": "x = 1\ndef f():\n    from . import a\n",
        "strategies/__init__.py": "",
    })
    graph = import_graph(root, discovering=())
    (cycle,) = find_cycles(graph, allowed={})
    assert [e.kind for e in cycle] == ["module-level", "function-level"]
    assert "workbench.a [function-level, workbench.b:3]" in _format_cycle(cycle)
    assert find_cycles(graph, allowed={("workbench.b", "workbench.a"): "test"}) == []
    # the module-level-only graph has no cycle here
    assert find_cycles({a: {b: e for b, e in t.items() if e.function is None} for a, t in graph.items()}, allowed={}) == []


def test_checker_sees_package_init_and_discovery_edges(tmp_path):
    root = _package(tmp_path, {
        "workbench/__init__.py": "",
        "workbench/reg/__init__.py": "",  # discovers workbench.reg.one
        "workbench/reg/one.py": "from ..core import thing\n",
        "workbench/core.py": "def thing():\n    import workbench.reg.base\n",
        "workbench/reg/base.py": "",
        "strategies/__init__.py": "",
    })
    (cycle,) = find_cycles(import_graph(root, discovering=("workbench.reg",)), allowed={})
    assert {e.importer for e in cycle} == {"workbench.core", "workbench.reg", "workbench.reg.one"}


def test_checker_reports_each_layering_rule(tmp_path):
    root = _package(tmp_path, {
        "workbench/__init__.py": "",
        "workbench/cli.py": "def cmd_tui():\n    from .tui import app\ndef other():\n    from .tui import app\n",
        "workbench/core.py": "import textual\nfrom . import cli\n",
        "workbench/strategy_api.py": "",
        "workbench/lexicon.py": "",
        "workbench/tui/__init__.py": "import textual\n",
        "workbench/tui/app.py": "",
        "strategies/__init__.py": "",
        "strategies/good.py": "from workbench.strategy_api import x\nimport numpy\n",
        "strategies/bad.py": "from workbench.lexicon import Lexicon\n",
        "workbench/sneaky.py": "if TYPE_CHECKING:\n    import textual\nelse:\n    from .tui import app\n",
    })
    problems = layering_violations(root)
    text = "\n".join(problems)
    assert "workbench.core imports textual" in text
    assert "workbench.core imports workbench.cli" in text
    assert "workbench.cli imports workbench.tui.app (function-level, line 4, in other())" in text
    assert "in cmd_tui()" not in text
    assert "strategies.bad imports workbench.lexicon" in text
    assert "strategies.good" not in text and "workbench.tui imports textual" not in text
    assert "workbench.sneaky imports workbench.tui" in text and "workbench.sneaky imports textual" not in text
    assert len(problems) == 5, text


@pytest.mark.parametrize("kind", ["module-level", "function-level"])
def test_import_counts_are_reported_per_kind(kind):
    """Both kinds are counted (shown with -v: `pytest -v tests/test_layering.py -rA`)."""
    imports = all_imports()
    edges = [i for i in imports if i.kind == kind and i.target.split(".")[0] in PACKAGES]
    print(f"{kind}: {sum(1 for i in imports if i.kind == kind)} imports, {len(edges)} of workbench/strategies modules")
    assert edges
