"""The package's shape: no import cycles, layers import only downwards, no god modules.

Imports are read from the source with `ast`, function-local imports included (a cycle
hidden inside a function is still a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "wattlake"

# Lower layers never import higher ones (same layer: allowed, cycles aside).
LAYERS: list[tuple[str, ...]] = [
    # 0: foundations — errors, settings, logs, DuckDB set-up, geometry, the lake's tables
    ("errors", "config", "logs", "duck", "geo", "lake", "runlog"),
    # 1: pure domain code — parsers, Ibis rules, the market, PV physics, the generator
    ("sources", "transforms", "market", "pv", "generate", "reports"),
    # 2: engines and the read/write edges — engines and their lake I/O (tables), SQL, quality,
    #    observability, warehouse, the stream's event contract, replay planning and Kafka clients
    (
        "engine",
        "spark_session",
        "tables",
        "query",
        "quality",
        "observability",
        "warehouse",
        "stream",
    ),
    # 3: the runtime context
    ("context",),
    # 4: landing and the pipeline steps; the stream simulator reads files like ingest; the
    #    stream runner (micro-batches → landing → live VEE → aggregates; the silver step);
    #    forecasting (features, training, inference)
    (
        "landing",
        "pipeline",
        "reports.run",
        "stream.inputs",
        "stream.simulate",
        "stream.job",
        "forecast",
    ),
    # 5: the command line
    ("cli",),
]
# Modules allowed to exceed MAX_LINES: declaration tables.
DECLARATION_TABLES = {"wattlake.quality.checks"}
MAX_LINES = 500


def _module(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The wattlake modules `name` imports (a `from pkg import mod` counts as `pkg.mod`)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("wattlake"):
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(m, p, known) for m, p in mods.items()}


def _layer(module: str) -> int | None:
    rest = module.removeprefix("wattlake").lstrip(".")
    matches = [
        (len(prefix), i)
        for i, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if rest == prefix or rest.startswith(prefix + ".")
    ]
    return max(matches)[1] if matches else None  # the longest prefix decides


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            # A package's __init__ importing its own submodules is not a cycle of concern.
            if w.startswith(v + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_every_module_has_a_layer() -> None:
    assert [m for m in _modules() if m != "wattlake" and _layer(m) is None] == []


def test_layers_import_only_downwards() -> None:
    upward = [
        f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
        for m, deps in sorted(_graph().items())
        for d in sorted(deps)
        if m != "wattlake" and (_layer(d) or 0) > (_layer(m) or 0)
    ]
    assert upward == []


def test_no_god_modules() -> None:
    long = {
        m: n
        for m, p in _modules().items()
        if (n := len(p.read_text().splitlines())) > MAX_LINES and m not in DECLARATION_TABLES
    }
    assert long == {}


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        pytest.param({"a": {"b"}, "b": {"a"}}, [["a", "b"]], id="two_module_cycle"),
        pytest.param({"a": {"b"}, "b": {"c"}, "c": set()}, [], id="chain"),
        pytest.param({"p": {"p.x"}, "p.x": {"p"}}, [], id="package_init_and_submodule"),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], cycles: list[list[str]]) -> None:
    assert _cycles(graph) == cycles
