"""The import graph points one way (DESIGN §3, STYLE "Shape"):

- the pure core (``rules/``, ``core/``) imports nothing of the service: no framework, no
  database, no Redis, and of our own code only the core, the domain errors and the pure
  shared mechanisms;
- only the HTTP edge (``*/routes.py``, ``web/``, ``app.py``) imports Litestar, and nothing
  below the edge imports the edge;
- ``common/`` imports no domain;
- domains do not import each other in a circle.

Imports are read with ``ast`` from the source, function-level ones included (a lazy import
is still a dependency); only ``if TYPE_CHECKING:`` blocks are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "src" / "carbon_inclusion"
PKG = "carbon_inclusion"

PURE = ("rules", "core")
PURE_MAY_IMPORT = ("carbon_inclusion.rules", "carbon_inclusion.core", "carbon_inclusion.errors",
                   "carbon_inclusion.common.canonical", "carbon_inclusion.common.decoding",
                   "carbon_inclusion.common.periods", "carbon_inclusion.common.clock")
IMPURE_LIBRARIES = ("litestar", "sqlalchemy", "asyncpg", "redis", "granian", "alembic",
                    "httpx", "reportlab", "jwt", "argon2", "prometheus_client")
FRAMEWORK = ("litestar", "granian")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                found.add(target)
                # ``from carbon_inclusion.x import y`` may name a module y
                found.update(f"{target}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return found


MODULES = {_module_name(p): _imports(p) for p in sorted(ROOT.rglob("*.py"))
           if "migrations" not in p.parts}
OURS = set(MODULES)


def _ours(imports: set[str]) -> set[str]:
    return {i for i in imports if i in OURS}


def _top(name: str) -> str:
    return name.split(".")[0]


def _is_edge(module: str) -> bool:
    parts = module.split(".")
    return (parts[-1] == "routes" or "routes" in parts[2:3] or module.startswith(f"{PKG}.web")
            or module in (f"{PKG}.app", f"{PKG}.cli", f"{PKG}.openapi_doc", f"{PKG}.__main__"))


# Packages below the domains that every domain may use (``db.registry`` gathers every
# domain's models for Alembic's metadata, by design).
INFRASTRUCTURE = {"common", "core", "rules", "db", "security", "web"}


def _domain(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else None


def test_the_graph_is_read():
    assert len(MODULES) > 50
    assert "carbon_inclusion.common.pagination" in MODULES["carbon_inclusion.behaviours.service"] \
        or any(m.startswith("carbon_inclusion.behaviours.") and
               "carbon_inclusion.common.pagination" in i for m, i in MODULES.items())


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _domain(m) in PURE))
def test_the_pure_core_imports_nothing_of_the_service(module):
    imports = MODULES[module]
    impure = sorted(i for i in imports if _top(i) in IMPURE_LIBRARIES)
    assert not impure, f"{module} imports {impure}"
    ours = sorted(i for i in _ours(imports) if not i.startswith(PURE_MAY_IMPORT))
    assert not ours, f"{module} imports {ours}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not _is_edge(m)))
def test_only_the_edge_imports_the_framework_or_the_edge(module):
    imports = MODULES[module]
    framework = sorted(i for i in imports if _top(i) in FRAMEWORK)
    assert not framework, f"{module} imports {framework}"
    edge = sorted(i for i in _ours(imports) if _is_edge(i))
    assert not edge, f"{module} imports the HTTP edge: {edge}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _domain(m) == "common"))
def test_common_imports_no_domain(module):
    ours = sorted(i for i in _ours(MODULES[module])
                  if not i.startswith((f"{PKG}.common", f"{PKG}.errors")))
    assert not ours, f"{module} imports {ours}"


def test_domains_do_not_import_each_other_in_a_circle():
    graph: dict[str, set[str]] = {}
    for module, imports in MODULES.items():
        here = _domain(module)
        if here is None or here in INFRASTRUCTURE or _is_edge(module):
            continue
        for target in _ours(imports):
            there = _domain(target)
            if there and there != here and there not in INFRASTRUCTURE and not _is_edge(target):
                graph.setdefault(here, set()).add(there)

    cycles = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                cycles.append([*path, nxt])
            elif nxt not in path and len(path) < 8:
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    assert not cycles, "domains import each other in a circle: " + "; ".join(
        " → ".join(c) for c in cycles[:5])
