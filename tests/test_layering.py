"""The engines are a library layer: no module under ``lilsr_tools/engines/`` imports click or the CLI (the
``lilsr index`` commands live in ``cli/index/`` and are built from the engines' parameter specs)."""

from __future__ import annotations

import ast
from pathlib import Path

import lilsr_tools

PACKAGE = Path(lilsr_tools.__file__).parent
FORBIDDEN = ("click", "lilsr_tools.cli")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (relative imports resolved against its package), at any depth of code."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def test_no_engine_module_imports_click_or_the_cli():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
                 for path in sorted((PACKAGE / "engines").rglob("*.py"))
                 for line, name in imported_modules(path)
                 if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)]
    assert offenders == []


def test_the_walk_sees_relative_imports_of_the_cli(tmp_path):
    """The check itself: a relative import reaching the CLI from an engine module is resolved and found."""
    engine_file = PACKAGE / "engines" / "native" / "engine.py"
    names = [name for _, name in imported_modules(engine_file)]
    assert "lilsr_tools.engines.param_specs" in names and "lilsr_tools.errors" in names
    cli_file = PACKAGE / "cli" / "index" / "native.py"
    assert "lilsr_tools.cli.options" in [name for _, name in imported_modules(cli_file)]


def test_no_benchmark_imports_a_private_name_of_the_package():
    """Benchmarks use the package's public API (before: benchmarks/compression.py took cli.compare._model_spec)."""
    benchmarks = PACKAGE.parent / "benchmarks"
    private = []
    for path in sorted(benchmarks.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lilsr_tools"):
                names = [alias.name for alias in node.names if alias.name.startswith("_")]
                if names or any(part.startswith("_") for part in node.module.split(".")):
                    private.append(f"{path.name}:{node.lineno} {node.module} {names}")
            # engine._lexicon, store_module._sha256: a private attribute of the package's objects or modules
            # (before: pisa_wrapper.py, lucene_latency.py, native_vs_seismic.py, store_check.py)
            elif (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                  and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
                private.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert private == []
