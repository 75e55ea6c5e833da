"""The house (docs/design.md): no import from a lower room to a higher one, no import cycle.

Every ``import`` in src/untwine is read from the source (lazy imports inside functions
included) and mapped to its room; a room may import only rooms below it.
"""

import ast
import importlib
import sys
from pathlib import Path

import pytest

import untwine

PACKAGE = Path(untwine.__file__).parent
#: The rooms, lowest first.
ROOMS = ["data", "nets", "estimators", "priors", "models", "config", "train", "metrics", "runs", "study", "viz", "cli"]
#: Leaf modules: the standard library and each other only, importable from any room.
LEAVES = {"atomic", "executor_options", "run_files", "validate"}
#: What metrics may not import although those rooms are lower: it knows a representation function and a
#: dataset, never a torch model.
METRICS_FORBIDDEN = {"nets", "priors", "models", "config", "train"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, name: str | None = None) -> set[str]:
    """Every untwine module that ``path`` (the module ``name``) imports, resolved to absolute names."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "untwine")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "untwine":
                continue
            # ``from untwine import data`` imports the module untwine.data; ``from . import get`` takes a name from
            # the package itself (its __init__)
            modules = [
                f"{target}.{alias.name}"
                for alias in node.names
                if (PACKAGE.parent / Path(*f"{target}.{alias.name}".split("."))).exists()
                or (PACKAGE.parent / Path(*f"{target}.{alias.name}".split("."))).with_suffix(".py").exists()
            ]
            found.update(modules)
            if len(modules) < len(node.names):
                found.add(target)
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def sources():
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_room_or_is_a_leaf():
    for path in sources():
        r = room(module_name(path))
        assert r is None or r in ROOMS or r in LEAVES, f"{path}: room {r!r} is not in docs/design.md's list"


def circles(graph: dict) -> list[set]:
    """The strongly connected components of more than one module in ``graph`` (module -> modules it imports)."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on_stack: set = set()
    found: list = []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in graph:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def room_graph() -> dict:
    """module -> the modules of its own room it imports (at the top or inside a function)."""
    graph = {}
    for path in sources():
        name = module_name(path)
        graph[name] = {m for m in imported_modules(path, name) if room(m) == room(name) and m != name}
    return graph


def test_no_circle_inside_a_room():
    found = circles(room_graph())
    assert not found, "import circles inside a room: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_the_circle_check_finds_a_circle_and_only_circles():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert circles({"a": {"b"}, "b": set(), "c": {"b"}}) == []
    assert circles({"a": {"b", "x"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [{"a", "b"}, {"c", "d"}]


def upward_imports(name: str, imports: set[str]) -> list[str]:
    """The imports of module ``name`` that break the house's rules, as sentences."""
    problems = []
    here = room(name)
    for target in sorted(imports):
        there = room(target)
        if here is None or there is None or there == here:
            continue
        if here in LEAVES and there not in LEAVES:  # a leaf may use another leaf (run_files writes atomically)
            problems.append(f"{name} is a leaf but imports {target}")
        elif there in LEAVES:
            continue
        elif ROOMS.index(there) > ROOMS.index(here):
            problems.append(f"{name} (room {here}) imports {target} (room {there}, above it)")
        elif here == "metrics" and there in METRICS_FORBIDDEN:
            problems.append(f"{name} imports {target}: metrics must not know torch models")
    return problems


def test_no_import_goes_up_a_room():
    problems = [p for path in sources() for p in upward_imports(module_name(path), imported_modules(path))]
    assert not problems, "\n".join(problems)


def test_the_check_catches_lazy_relative_and_absolute_upward_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import numpy\nfrom . import base\n\ndef f():\n    from ..train import train\n"
        "    from .. import runs\n    import untwine.viz.report\n"
    )
    imports = imported_modules(probe, "untwine.data.probe")
    assert {"untwine.data.base", "untwine.train", "untwine.runs", "untwine.viz.report"} <= imports
    assert "untwine.data" not in imports  # "from . import base" takes the module base, not a name of the package
    problems = upward_imports("untwine.data.probe", imports)
    assert len(problems) == 3 and all("above it" in p for p in problems)
    assert upward_imports("untwine.metrics.probe", {"untwine.models", "untwine.data", "untwine.estimators"}) == [
        "untwine.metrics.probe imports untwine.models: metrics must not know torch models"
    ]
    assert upward_imports("untwine.atomic", {"untwine.data"}) == ["untwine.atomic is a leaf but imports untwine.data"]


@pytest.mark.parametrize("path", sources(), ids=lambda p: module_name(p))
def test_each_module_imports_first(path):
    """Imported first, into a fresh untwine (third-party modules stay loaded), every module works: no cycle."""
    name = module_name(path)
    if name.endswith("__main__"):
        pytest.skip("runs the command line")
    saved = {k: v for k, v in sys.modules.items() if k == "untwine" or k.startswith("untwine.")}
    for key in saved:
        del sys.modules[key]
    try:
        importlib.import_module(name)
    finally:
        for key in [k for k in sys.modules if k == "untwine" or k.startswith("untwine.")]:
            del sys.modules[key]
        sys.modules.update(saved)


#: what names a place outside the repository: the workspace's shared folder and the documents that lived there (their
#: content is in docs/, in the project's own words). Spelt in pieces so that this file does not name them itself.
OUTSIDE = ("../" + "shared", "shared" + "/seeds", "REFERENCE" + ".md", "DESIGN" + ".md")


def _tracked_text_files():
    import subprocess

    root = PACKAGE.parent.parent
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for name in listed.stdout.decode().split("\0"):
        path = root / name
        if (
            name
            and path.is_file()
            and path.suffix
            in {".py", ".md", ".toml", ".txt", ".sh", ".cfg", ".yml", ".yaml", ".json", ".html", ".csv", ""}
        ):
            yield name, path


def test_no_tracked_file_points_outside_the_repository():
    """A clone has only the repository: a tracked file that sends its reader elsewhere is a dead end."""
    found = [
        f"{name}:{number}: {line.strip()[:100]}"
        for name, path in _tracked_text_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if any(word in line for word in OUTSIDE)
    ]
    assert not found, "these lines name a place outside the repository:\n" + "\n".join(found)


def test_the_outside_check_sees_a_planted_reference(tmp_path):
    line = "see the " + "REFERENCE" + ".md of the workspace"
    assert any(word in line for word in OUTSIDE)
    assert not any(word in "see docs/reference.md" for word in OUTSIDE)


def _unexplained_lazy_imports(source: str) -> list[int]:
    """Lines of imports inside a function with no comment on their line or the line above."""
    lines = source.splitlines()
    found = []
    for function in ast.walk(ast.parse(source)):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    around = lines[max(0, node.lineno - 2) : node.end_lineno]
                    if not any("#" in line for line in around):
                        found.append(node.lineno)
    return sorted(set(found))


def test_imports_sit_at_the_top_unless_a_comment_says_why():
    """A reader sees a module's dependencies at its top; a lazy import (an optional dependency, the command line's
    start-up) says why on its line or the line above."""
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _unexplained_lazy_imports(path.read_text())
    ]
    assert not found, "imports inside functions without a reason:\n" + "\n".join(found)


def test_the_lazy_import_check_sees_an_unexplained_one():
    assert _unexplained_lazy_imports("def f():\n    import json\n    return json\n") == [2]
    assert _unexplained_lazy_imports("def f():\n    import ray  # optional: the [ray] extra\n") == []


#: the modules of the API reference (docs/api/): their public functions document their parameters (numpydoc)
API_MODULES = (
    "untwine",
    "untwine.atomic",
    "untwine.config",
    "untwine.data",
    "untwine.data.pairs",
    "untwine.data.perturb",
    "untwine.data.sampling",
    "untwine.data.statistics",
    "untwine.estimators",
    "untwine.executor_options",
    "untwine.metrics",
    "untwine.metrics.cache",
    "untwine.models",
    "untwine.models.weak",
    "untwine.nets",
    "untwine.priors",
    "untwine.run_files",
    "untwine.runs",
    "untwine.study",
    "untwine.study.analyses",
    "untwine.study.tasks",
    "untwine.train",
    "untwine.train.precision",
    "untwine.validate",
    "untwine.viz",
)


def _undocumented(module) -> list[str]:
    import inspect

    found = []
    for name in getattr(module, "__all__", []):
        value = getattr(module, name, None)
        if inspect.isfunction(value):
            doc = inspect.getdoc(value) or ""
            takes = [p for p in inspect.signature(value).parameters if p not in ("self", "cls")]
            if not doc or (takes and "Parameters\n----------" not in doc):
                found.append(f"{module.__name__}.{name}")
    return found


def test_public_functions_document_their_parameters():
    """The docstring convention (numpydoc, CONTRIBUTING.md): every public function of the API reference has a
    summary and, when it takes parameters, a Parameters section (the docs build checks the names against the
    signature)."""
    found = [name for module in API_MODULES for name in _undocumented(importlib.import_module(module))]
    assert not found, "public functions without a numpydoc Parameters section:\n" + "\n".join(found)


def test_the_docstring_check_sees_a_function_without_parameters_section():
    import types

    module = types.ModuleType("planted")
    exec("def f(x):\n    '''Does f.'''\n\ndef g():\n    '''Takes nothing.'''\n__all__ = ['f', 'g']", module.__dict__)
    assert _undocumented(module) == ["planted.f"]
