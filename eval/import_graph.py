"""The package's shape: line count of every module and which of the package's modules each imports.

    python eval/import_graph.py            # one line per module: lines, then its imports
    python eval/import_graph.py --layers   # edges between layers (subpackages / top-level modules)

Imports inside functions (the lazy ones) count the same as top-level ones.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aligner"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, relative imports resolved."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            # `from . import corpus` names a module, not an attribute
            found |= {f"{module}.{alias.name}" for alias in node.names if (PACKAGE.parent / f"{module}.{alias.name}".replace(".", "/")).with_suffix(".py").exists()}
    return {name for name in found if name.startswith("aligner") and name != module_name(path)}


def layer(module: str) -> str:
    """``aligner.backends.fairseq.checkpoint`` -> ``backends.fairseq``; top-level modules stand alone."""
    parts = module.split(".")[1:]
    if not parts:
        return "aligner"
    if parts[0] == "backends" and len(parts) > 1 and (PACKAGE / "backends" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return parts[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", action="store_true", help="edges between layers instead of modules")
    args = parser.parse_args()
    paths = sorted(PACKAGE.rglob("*.py"))
    if args.layers:
        edges: dict[str, set[str]] = defaultdict(set)
        for path in paths:
            source = layer(module_name(path))
            edges[source] |= {layer(name) for name in imports_of(path)} - {source}
        for source in sorted(edges):
            print(f"{source:22} -> {', '.join(sorted(edges[source])) or '-'}")
        return
    total = 0
    for path in paths:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        total += lines
        names = sorted(name.removeprefix("aligner.") for name in imports_of(path))
        print(f"{lines:5} {module_name(path):42} {' '.join(names)}")
    print(f"{total:5} lines in {len(paths)} modules")


if __name__ == "__main__":
    main()
