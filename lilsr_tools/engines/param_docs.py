"""The docs' parameter tables, rendered from the engines' specs (``param_specs``). A guide holds a table
between two markers::

    <!-- params: native search -->
    | parameter | default | takes | tuned over | meaning |
    ...
    <!-- /params -->

``tests/test_engine_params.py`` fails when a table differs from its spec; ``python -m
lilsr_tools.engines.param_docs docs/*.md`` rewrites them."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from . import param_specs
from .params import Param

TABLE = re.compile(r"(<!-- params: (?P<engine>[\w-]+) (?P<stage>search|build) -->\n)(?P<body>.*?)(<!-- /params -->)",
                   re.S)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`{value}`"
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_text(param: Param) -> str:
    if param.default_text:
        return param.default_text
    if param.per_k:
        bands, previous = [], None
        for largest, value in param.per_k:
            bands.append(f"{_value(value)} (k <= {largest})" if largest is not None else f"{_value(value)} (k > {previous})")
            previous = largest
        return "per k: " + ", ".join(bands)
    return "none" if param.default is None else _value(param.default)


def render_table(engine: str, stage: str) -> str:
    """The markdown table of an engine's search or build parameters."""
    rows = ["| parameter | default | takes | tuned over | meaning |", "|---|---|---|---|---|"]
    for p in param_specs.SPECS[engine].declared(stage):
        grid = ", ".join(_value(v) for v in p.grid) or "-"
        rows.append(f"| `{p.name}` | {default_text(p)} | {p.takes()} | {grid} | {p.trades} |")
    return "\n".join(rows) + "\n"


def doc_tables(text: str) -> list[tuple[str, str, str]]:
    """(engine, stage, table as written) for every marked table of a guide."""
    return [(m["engine"], m["stage"], m["body"]) for m in TABLE.finditer(text)]


def regenerate(text: str) -> str:
    return TABLE.sub(lambda m: m.group(1) + render_table(m["engine"], m["stage"]) + m.group(5), text)


def main(paths: list[str]) -> int:
    for path in map(Path, paths):
        text = path.read_text()
        new = regenerate(text)
        if new != text:
            tmp = path.with_name(f".{path.name}.params-tmp")
            tmp.write_text(new)
            os.replace(tmp, path)  # a reader never sees half a guide
            print(f"{path}: parameter tables regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
