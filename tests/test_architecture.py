"""The package's layers depend only downward: checked on the imports themselves (ast).

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import
is still a dependency. docs/architecture.md draws the same rules.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "m365_toolkit"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
P = "m365_toolkit"
ADAPTERS = (f"{P}.cli", f"{P}.mcp_server")

# (the modules a rule covers, prefixes they may import only / must not import)
MAY_IMPORT_ONLY = [
    (f"{P}.errors", ()),
    (f"{P}.settings", (f"{P}.errors",)),
    (f"{P}._util", (f"{P}._util", f"{P}.errors", f"{P}.settings")),
    (f"{P}.m365", (f"{P}.m365", f"{P}._util", f"{P}.errors", f"{P}.settings")),
    # the pure session model: no store, no manager, no costs
    (f"{P}.sessions.event", (f"{P}.sessions.event", f"{P}._util", f"{P}.errors")),
    (f"{P}.sessions.model", (f"{P}.sessions.event", f"{P}._util", f"{P}.errors")),
    (f"{P}.sessions.query", (f"{P}.sessions.model", f"{P}._util", f"{P}.errors")),
]
MUST_NOT_IMPORT = [
    (f"{P}.sessions", (*ADAPTERS, f"{P}.m365", f"{P}.data", f"{P}.costs.tracker")),
    (f"{P}.costs", (*ADAPTERS, f"{P}.m365", f"{P}.data")),
    (
        f"{P}.store",
        (*ADAPTERS, f"{P}.m365", f"{P}.data", f"{P}.sessions.manager", f"{P}.costs.tracker"),
    ),
    (f"{P}.data", (*ADAPTERS, f"{P}.m365", f"{P}.sessions.manager", f"{P}.costs.tracker")),
    (f"{P}.reports", (*ADAPTERS, f"{P}.data", f"{P}.costs.tracker")),
    (f"{P}.mcp_server", (f"{P}.cli",)),
    (f"{P}.cli", (f"{P}.mcp_server",)),
]
# `m365-toolkit mcp` and the demo start the server, but only inside the command: the mcp
# extra stays optional for the CLI.
LAZY_ALLOWED = {(f"{P}.cli", f"{P}.mcp_server")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of the package."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = {
        id(node)
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(func)
    }
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from . import settings` imports a module; `from .x import name` imports x
            subs = [f"{module}.{a.name}" for a in node.names if _is_module(f"{module}.{a.name}")]
            targets = subs or [module]
        found += [(t, node.lineno, id(node) in lazy) for t in targets if t.split(".")[0] == P]
    return found


def _covered(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize(("scope", "allowed"), MAY_IMPORT_ONLY, ids=[r[0] for r in MAY_IMPORT_ONLY])
def test_lower_layers_import_only_what_lies_below_them(scope, allowed):
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for name, path in MODULES.items()
        if _covered(name, scope)
        for target, line, _lazy in _imports(path)
        if not any(_covered(target, a) for a in allowed)
    ]
    assert wrong == []


@pytest.mark.parametrize(("scope", "banned"), MUST_NOT_IMPORT, ids=[r[0] for r in MUST_NOT_IMPORT])
def test_no_layer_reaches_up_or_sideways(scope, banned):
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for name, path in MODULES.items()
        if _covered(name, scope)
        for target, line, lazy in _imports(path)
        if any(_covered(target, b) for b in banned)
        and not (lazy and any(_covered(name, n) and _covered(target, t) for n, t in LAZY_ALLOWED))
    ]
    assert wrong == []


def test_the_library_never_imports_an_adapter():
    library = [n for n in MODULES if not any(_covered(n, a) for a in ADAPTERS)]
    library.remove(f"{P}.__main__")  # `python -m m365_toolkit` is the CLI
    wrong = [
        f"{n}:{line} imports {target}"
        for n in library
        for target, line, _lazy in _imports(MODULES[n])
        if any(_covered(target, a) for a in ADAPTERS)
    ]
    assert wrong == []


def test_the_import_scanner_sees_relative_and_lazy_imports():
    # cli/main.py was split per command group: the same imports now stand in two modules.
    found = {
        (t, lazy) for m in ("app", "costs") for t, _line, lazy in _imports(MODULES[f"{P}.cli.{m}"])
    }
    assert (f"{P}.settings", False) in found and (f"{P}.sessions.manager", False) in found
    assert (f"{P}.costs.tracker", True) in found


def test_every_subpackage_is_in_docs_architecture_and_every_one_named_there_exists():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    layout = re.search(r"```\nsrc/m365_toolkit/\n(.*?)```", text, re.S)
    assert layout, "docs/architecture.md lacks its layout block"
    named = set(re.findall(r"^ {2}([a-z_0-9]+)/", layout.group(1), re.M))
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages - named == set(), "describe these subpackages in docs/architecture.md"
    assert {n for n in named if not (PACKAGE / n).is_dir()} == set()


MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines():
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"
