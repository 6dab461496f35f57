"""The layer check: rt_saliency's imports may only point down the layer order below.

Parses every module of the package (no import is executed), resolves each import of the
package's own modules (relative ones too), and fails when

- a module imports a component of a *higher* layer (a back-arrow),
- the module import graph has a cycle,
- an own-module import sits inside a function (imports of the package belong at the top),
- any other import statement sits inside a function: a library that is slow to load or may be
  missing is imported lazily through ``rt_saliency.optional.import_optional`` (one helper, one
  error with the fix), everything else at the top of its file.

``python tools/layers.py`` prints the component graph and exits 1 on any violation; the test
suite runs it (``tests/test_layers.py``).  The picture is in ``docs/architecture.md``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "rt_saliency"

#: components by layer, lowest first: a component may import its own layer and the ones below
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "spec", "atomic", "artifacts", "redact", "yuv", "imaging", "optional",
     "__init__"),
    ("model", "metrics", "loss", "flow", "qp", "preview"),
    ("data", "prior", "deploy", "encode"),
    ("runtime", "train"),
    ("stream",),
    ("apps", "bench"),
    ("cli", "__main__"),
)


@dataclass
class Report:
    """What the check found: the component edges and every violation, as text lines."""

    edges: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    back_arrows: list[str] = field(default_factory=list)
    cycles: list[str] = field(default_factory=list)
    inner_imports: list[str] = field(default_factory=list)
    lazy_imports: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.back_arrows or self.cycles or self.inner_imports or self.lazy_imports
                    or self.unknown)


def layer_of() -> dict[str, int]:
    return {comp: i for i, comps in enumerate(LAYERS) for comp in comps}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             modules: set[str]) -> list[str]:
    """The own modules an import statement loads (``from pkg import submodule`` included)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        name = ".".join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    if name.split(".")[0] != PACKAGE:
        return []
    subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in modules]
    # ``from pkg import submodule`` loads the submodule (its package is already initialised)
    return subs if len(subs) == len(node.names) else [name, *subs]


def check(root: Path) -> Report:
    """Check the package at ``root`` (the folder holding ``__init__.py``)."""
    report = Report()
    layers = layer_of()
    files = sorted(root.rglob("*.py"))
    modules = {module_name(root, p) for p in files}
    # compiled extensions: ``encode/_x264.cpython-311-x86_64-linux-gnu.so`` -> ``encode._x264``
    modules |= {module_name(root, p.with_name(p.name.split(".")[0] + ".py"))
                for p in root.rglob("*.so")}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in files:
        module = module_name(root, path)
        tree = ast.parse(path.read_text(), filename=str(path))
        inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            targets = _targets(node, module, path.name == "__init__.py", modules)
            where = f"{path.relative_to(root.parent)}:{node.lineno}"
            if not targets:
                if id(node) in inside and not (isinstance(node, ast.ImportFrom) and node.level):
                    name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    report.lazy_imports.append(
                        f"{where}: {module} imports {name} inside a function (top of the file, "
                        "or import_optional)")
                continue
            if id(node) in inside:
                report.inner_imports.append(f"{where}: {module} imports {targets[0]} inside a function")
            for target in targets:
                if target != module:
                    graph[module].add(target)
                src, dst = component(module), component(target)
                for comp in (src, dst):
                    if comp not in layers:
                        report.unknown.append(f"{where}: component '{comp}' is in no layer")
                if src == dst or src not in layers or dst not in layers:
                    continue
                report.edges[src].add(dst)
                if layers[dst] > layers[src]:
                    report.back_arrows.append(
                        f"{where}: {module} (layer {layers[src]} '{src}') imports {target} "
                        f"(layer {layers[dst]} '{dst}')")
    report.cycles = _cycles(graph)
    return report


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every strongly connected group of modules (Tarjan), as 'a -> b -> a' lines."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[str] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(" <-> ".join(sorted(group)))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def render(report: Report) -> str:
    """The component graph by layer, then the violations."""
    layers = layer_of()
    lines = ["layer  component  -> imports"]
    for i, comps in enumerate(LAYERS):
        for comp in comps:
            deps = sorted(report.edges.get(comp, ()), key=lambda c: (layers.get(c, 99), c))
            lines.append(f"{i:>5}  {comp:<10} -> {', '.join(deps) if deps else '-'}")
    for title, items in (("back-arrows", report.back_arrows), ("import cycles", report.cycles),
                         ("own-module imports inside functions", report.inner_imports),
                         ("other imports inside functions", report.lazy_imports),
                         ("components in no layer", report.unknown)):
        lines.append(f"{title}: {len(items)}")
        lines += [f"  {item}" for item in items]
    lines.append("OK" if report.ok else "FAILED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1] / PACKAGE),
                        help="the package folder (default: this checkout's rt_saliency/)")
    args = parser.parse_args(argv)
    report = check(Path(args.root))
    print(render(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
