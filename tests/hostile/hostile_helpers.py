"""Running the CLI in this process and judging a refusal (shared by the hostile tests)."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

# --- running the CLI and judging a refusal -------------------------------------------------------------------

_PROGRESS = re.compile(r"\d+%\||it/s|doc/s|s/it|\d+/\d+ \[")


def lilsr(*args):
    """Run ``lilsr ARGS`` in this process (exceptions are kept, not raised: a traceback is a failure)."""
    from lilsr_tools.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def hidden_siblings(path: Path) -> list[Path]:
    """Temporary siblings ``.NAME.tmp-*`` / ``.NAME.old-*`` the atomic writers would leave behind."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")
            and (".tmp-" in p.name or ".old-" in p.name or p.name.endswith(".shards"))]


def assert_refused(result, names=(), absent=(), unchanged=None):
    """Exit 2; exactly one output line, ``lilsr: error: ...``, containing every string of ``names`` (the file,
    with ``:LINE`` where there is one); no traceback; nothing on stdout; no output (and no temporary sibling)
    at any path of ``absent``; ``unchanged``: {path: bytes} that must still hold those bytes."""
    text = result.output
    detail = f"\n--- output ---\n{text}\n--- exception: {result.exception!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), detail
    assert result.exit_code == 2, detail
    assert "Traceback" not in text, detail
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip() and not _PROGRESS.search(line)]
    assert len(lines) == 1 and lines[0].startswith("lilsr: error: "), detail
    for name in names:
        assert str(name) in lines[0], f"{name!r} not named in: {lines[0]}"
    assert result.stdout.strip() == "" or all(_PROGRESS.search(l) for l in result.stdout.splitlines() if l.strip()), detail
    for path in absent:
        assert not Path(path).exists(), f"{path} was written"
        assert not hidden_siblings(Path(path)), f"temporary siblings of {path} left: {hidden_siblings(Path(path))}"
    for path, content in (unchanged or {}).items():
        assert Path(path).read_bytes() == content, f"{path} was changed"
    return lines[0]
