"""The import rules of docs/architecture.md, checked on the whole import graph, transitively:

- `shared/` imports nothing from `services/`;
- no service imports another service's modules (the composition roots `services/embedded.py`
  and the CLI `services/cli/` put the stages together and may import them all);
- pure stage logic reaches no broker, HTTP, database or metrics-exporter library, through any
  chain of imports.

Every import counts, also those inside functions (a lazy import is still an edge), except
those under `if TYPE_CHECKING:` (never executed: annotations only).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services")
SERVICES = ("gateway", "runner", "scorer", "aggregator")
COMPOSITION_ROOTS = ("services.embedded", "services.cli")
PURE_MODULES = (
    "services.runner.planner",
    "services.runner.executor",
    "services.runner.prompts",
    "services.runner.pacing",
    "services.runner.cache",
    "services.runner.adapters.builtin",
    "services.scorer.scoring",
    "services.scorer.pairs",
    "shared.metrics.registry",
    "shared.metrics.aggregation",
    "shared.results.report",
    "shared.results.comparison",
    "shared.results.drift",
    "shared.results.baselines",
    "shared.results.completion",
    "shared.results.store",
    "shared.results.sample_files",
    "shared.shards",
    "shared.statistics",
    "shared.events",
    "shared.spec",
)
IO_LIBRARIES = frozenset(
    {
        "faststream",
        "aiokafka",
        "httpx",
        "aiohttp",
        "pymongo",
        "motor",
        "prometheus_client",
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlite3",
        "socket",
        "typer",
        "rich",
    }
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in (REPO / package).rglob("*.py")}


@cache
def _imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(modules of this repo, top-level third-party or stdlib packages) that `module` imports."""
    path = _modules()[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _executed(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
    ours = frozenset(name for name in names if name in _modules())
    foreign = frozenset(name.split(".")[0] for name in names if name.split(".")[0] not in PACKAGES)
    return ours, foreign


def _executed(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of `node` that may run: all but the bodies of `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for orelse in child.orelse for n in (orelse, *_executed(orelse)))
            continue
        yield child
        yield from _executed(child)


def _reachable(module: str) -> Iterator[tuple[str, ...]]:
    """Every module `module` reaches, with the chain of imports that leads there."""
    seen = {module}
    queue = [(module,)]
    while queue:
        chain = queue.pop(0)
        yield chain
        for imported in sorted(_imports(chain[-1])[0]):
            if imported not in seen:
                seen.add(imported)
                queue.append((*chain, imported))


def _service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 and parts[1] in SERVICES else None


def test_the_graph_is_read() -> None:
    assert {"shared.spec", "shared.results.store", "services.gateway.app", "services.runner.planner"} <= set(_modules())
    assert "shared.events" in _imports("shared.results.store")[0]


@pytest.mark.parametrize("module", sorted(m for m in _modules() if m.startswith("shared")))
def test_shared_imports_nothing_of_the_services(module: str) -> None:
    wrong = [chain for chain in _reachable(module) if chain[-1].startswith("services")]
    assert not wrong, f"shared reaches services: {' -> '.join(wrong[0])}"


@pytest.mark.parametrize("module", sorted(m for m in _modules() if _service_of(m)))
def test_no_service_imports_another(module: str) -> None:
    own = _service_of(module)
    wrong = [chain for chain in _reachable(module) if _service_of(chain[-1]) not in (None, own)]
    assert not wrong, f"{own} reaches another service: {' -> '.join(wrong[0])}"


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_stage_logic_reaches_no_io_library(module: str) -> None:
    for chain in _reachable(module):
        used = _imports(chain[-1])[1] & IO_LIBRARIES
        assert not used, f"{' -> '.join(chain)} imports {sorted(used)}"


def test_only_the_composition_roots_import_several_services() -> None:
    mixing = {
        module
        for module in _modules()
        if module.startswith("services")
        and _service_of(module) is None
        and not module.startswith(COMPOSITION_ROOTS)
        and len({_service_of(m) for m in _imports(module)[0]} - {None}) > 1
    }
    assert not mixing, f"modules outside the composition roots that import several services: {sorted(mixing)}"
