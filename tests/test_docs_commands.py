"""Every documented command runs as written.

The ```bash blocks of README.md and docs/*.md are extracted. Every ``lilsr`` command in any block must name
a real command, real options and valid choices (checked without running it). Blocks marked cheap, with an
HTML comment on the line before the block::

    <!-- docs-test: cheap -->
    <!-- docs-test: cheap; needs out/scifact-splade-tiny out/idf-table -->

run for real, line by line, as a newcomer on a fresh clone would: the README first, then the guides in the
order the README lists them (its Commands table, then the guides it links elsewhere), all in one scratch copy
of the layout the guides assume (the repository root with ``../shared/data`` beside it, where ``scifact`` is
the small SciFact of the fixtures) and one shared ``out/`` folder. What a block ``needs`` must have been made
by an earlier block in that order, so a guide relying on a later guide's output fails, and so does one that
re-makes an earlier guide's output without ``--overwrite``. A marked command that fails fails the test.

Lines are run by a small interpreter, in this process (no Python start-up per command): comments, ``\\``
continuations, ``export A=B``, ``name=value`` and ``$name``, ``flock FILE`` prefixes, ``lilsr`` /
``.venv/bin/lilsr`` commands and ``.venv/bin/python benchmarks/...`` scripts. A cheap block with anything
else fails, so what the guides show stays what users can type.

Printed figures. Comment lines right after a command in a cheap block, of the form ``# NAME NUMBER`` (a
measure and its value, as ``lilsr evaluate`` prints them)::

    .venv/bin/lilsr evaluate out/runs/exact-table.trec --collection scifact --split test
    # nDCG@10    0.6585

are what that command prints on the real SciFact. The docs test requires each NAME on a line of the
command's output, and checks each value within ``FIGURE_TOLERANCE`` (0.002):

- by default (the small SciFact of the fixtures, where the real figure cannot be reproduced) against
  ``tests/docs_figures.json``, which holds, per command and NAME, the guide's figure and what the command
  printed on the fixture when that figure was last confirmed on the real data. A change that moves the
  fixture's figure has moved the real one too, so the guide's is stale: the test fails, naming both;
  so does a guide figure edited without recording it;
- with ``LILSR_DOCS_REAL_DATA=1`` (``scifact`` is the full one of ``$LILSR_DATA_DIR``; slow: it encodes
  the whole corpus) against the guide's figure itself.

After re-running a guide on the real data and pasting its figures, record the fixture's with
``LILSR_DOCS_RECORD_FIGURES=1 pytest tests/test_docs_commands.py -k cheap``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lilsr_tools.cli import main

REPO = Path(__file__).resolve().parents[1]
GUIDES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARK = re.compile(r"<!--\s*docs-test:\s*cheap\s*(?:;\s*needs\s+(?P<needs>[^>]*?))?\s*-->")
LILSR = ("lilsr", ".venv/bin/lilsr")
NUMBER = r"[-+]?\d+(?:\.\d+)?"
FIGURE = re.compile(rf"^#\s*(?P<name>[A-Za-z][\w@.()=,]*)(?P<values>(?:\s+{NUMBER})+)\s*$")
FIGURE_TOLERANCE = 0.002
REAL_DATA = os.environ.get("LILSR_DOCS_REAL_DATA", "") not in ("", "0")
RECORD_FIGURES = os.environ.get("LILSR_DOCS_RECORD_FIGURES", "") not in ("", "0")
FIXTURE_FIGURES = REPO / "tests" / "docs_figures.json"


@dataclass
class Block:
    guide: Path
    line: int  # of the opening fence
    text: str
    cheap: bool
    needs: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.guide.relative_to(REPO)}:{self.line}"


def bash_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            start = i
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            k = start - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            mark = MARK.search(lines[k]) if k >= 0 else None
            blocks.append(Block(path, start + 1, "\n".join(lines[start + 1:j]), bool(mark),
                                tuple((mark.group("needs") or "").split()) if mark else ()))
            i = j
        i += 1
    return blocks


def command_lines(text: str) -> list[str]:
    """Logical lines: comments dropped (also after a command), continuations joined."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not current and line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        words = shlex.split(current, comments=True)
        if words:
            out.append(" ".join(shlex.quote(w) for w in words))
        current = ""
    return out


def documented_figures(text: str) -> list[list[tuple[str, float]]]:
    """Per logical command line of ``text`` (the lines ``command_lines`` returns, in order), the
    ``# NAME NUMBER`` comment lines that follow it: the figures the guide says it prints."""
    figures: list[list[tuple[str, float]]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not current and line.lstrip().startswith("#"):
            match = FIGURE.match(line.strip())
            if match and figures:
                figures[-1] += figure_columns(match.group("name"), match.group("values").split())
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if shlex.split(current, comments=True):
            figures.append([])
        current = ""
    return figures


def figure_columns(name: str, words: list[str]) -> list[tuple[str, float]]:
    """``NAME V1 V2 ...`` (one column per run, as ``lilsr evaluate A B`` prints) as ``NAME``, ``NAME#2``, ..."""
    values = []
    for word in words:
        try:
            values.append(float(word))
        except ValueError:
            break
    return [(name if i == 0 else f"{name}#{i + 1}", value) for i, value in enumerate(values)]


def printed_figures(output: str) -> dict[str, float]:
    """``NAME NUMBER...`` at the start of the output's lines (the first line naming each NAME)."""
    printed: dict[str, float] = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] not in printed:
            printed.update(figure_columns(words[0], words[1:]))
    return printed


def figure_mismatches(output: str, figures: list[tuple[str, float]], check_values: bool,
                      tolerance: float = FIGURE_TOLERANCE) -> list[str]:
    """What differs between a command's output and the figures documented after it."""
    printed = printed_figures(output)
    problems = []
    for name, value in figures:
        if name not in printed:
            problems.append(f"{name}: documented as {value:g}, not printed")
        elif check_values and abs(printed[name] - value) > tolerance:
            problems.append(f"{name}: documented {value:g}, printed {printed[name]:g} (tolerance {tolerance:g})")
    return problems


def stale_fixture_figures(output: str, figures: list[tuple[str, float]], recorded: dict | None,
                          tolerance: float = FIGURE_TOLERANCE) -> list[str]:
    """The guide's figures that the fixture run says are stale: ``recorded`` maps each NAME to the guide's
    figure and the fixture's value when that figure was confirmed (``tests/docs_figures.json``)."""
    how = ("re-run the guide on SciFact (LILSR_DOCS_REAL_DATA=1), paste what it prints, then record the "
           "fixture's figures (LILSR_DOCS_RECORD_FIGURES=1)")
    printed = printed_figures(output)
    problems = []
    for name, value in figures:
        documented, fixture = (recorded or {}).get(name, (None, None))
        if documented is None:
            problems.append(f"{name}: no fixture figure recorded in {FIXTURE_FIGURES.name}; {how}")
        elif documented != value:
            problems.append(f"{name}: the guide shows {value:g}, {FIXTURE_FIGURES.name} was recorded against "
                            f"{documented:g}; {how}")
        elif name in printed and abs(printed[name] - fixture) > tolerance:
            problems.append(f"{name}: the guide's {value:g} is stale: on the test collection the command prints "
                            f"{printed[name]:g}, not the {fixture:g} it printed when {value:g} was confirmed "
                            f"(tolerance {tolerance:g}); {how}")
    return problems


def figure_key(block: Block, line: str) -> str:
    return f"{block.guide.relative_to(REPO)}: {line}"


ALL_BLOCKS = [block for guide in GUIDES for block in bash_blocks(guide)]
CHEAP_BLOCKS = [block for block in ALL_BLOCKS if block.cheap]


def lilsr_args(words: list[str]) -> list[str] | None:
    """The arguments of a ``lilsr`` command line (after ``flock FILE`` and ``nice -n N`` prefixes), else None."""
    while words and words[0] in ("flock", "nice"):
        words = words[2:] if words[0] == "flock" else words[3:] if words[1:2] == ["-n"] else words[1:]
    if words and words[0] in LILSR:
        return words[1:]
    return None


def expand(word: str, env: dict) -> str:
    """``$NAME`` and ``${NAME}`` from the block's variables, then the environment."""
    return re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda m: env.get(m.group(1), os.environ.get(m.group(1), "")), word)


def check_parses(args: list[str]) -> None:
    """Resolve the command and parse its options as click would, without running anything."""
    ctx = click.Context(main, info_name="lilsr")
    parser = main.make_parser(ctx)
    _, rest, _ = parser.parse_args(list(args))
    cmd: click.Command = main
    while isinstance(cmd, click.Group):
        if not rest:
            raise click.UsageError(f"'{ctx.command_path}' needs a sub-command")
        _, cmd, rest = cmd.resolve_command(ctx, rest)
        ctx = click.Context(cmd, info_name=cmd.name, parent=ctx)
    if any(a in ("-h", "--help") for a in rest):
        return
    values, positional, _ = cmd.make_parser(ctx).parse_args(list(rest))
    for param in cmd.params:
        value = values.get(param.name)
        if isinstance(param.type, click.Choice) and value is not None and type(value).__name__ != "Sentinel":
            for item in value if isinstance(value, (list, tuple)) else [value]:
                param.type.convert(item, param, ctx)
    if positional:  # arguments are parsed into `values`; what is left over has no place
        raise click.UsageError(f"unexpected extra argument(s) {' '.join(positional)}")
    missing = [p.name.upper() for p in cmd.params if isinstance(p, click.Argument) and p.required
               and (values.get(p.name) is None or type(values.get(p.name)).__name__ == "Sentinel")]
    if missing:
        raise click.UsageError(f"missing argument(s) {' '.join(missing)}")


def test_a_stale_documented_figure_fails():
    block = ("lilsr evaluate out/runs/a.trec --collection scifact \\\n    --split test\n# nDCG@10    0.6451\n"
             "# RR@10      0.6076\n# queries: 300 judged\nlilsr evaluate out/runs/b.trec --collection scifact\n")
    assert len(command_lines(block)) == 2
    assert documented_figures(block) == [[("nDCG@10", 0.6451), ("RR@10", 0.6076)], []]
    printed = "nDCG@10    0.6585\nRR@10      0.6078\nR@100      0.8953\n"
    figures = documented_figures(block)[0]
    assert figure_mismatches(printed, figures, check_values=True) == [
        "nDCG@10: documented 0.6451, printed 0.6585 (tolerance 0.002)"]
    assert figure_mismatches(printed, figures, check_values=False) == []  # the small fixture: names only
    assert figure_mismatches("R@100 0.8953\n", figures, check_values=False)[0].startswith("nDCG@10: documented")
    two_runs = "# nDCG@10    0.6789    0.6826\n"  # lilsr evaluate A B: one column per run
    assert documented_figures("lilsr evaluate a b\n" + two_runs) == [[("nDCG@10", 0.6789), ("nDCG@10#2", 0.6826)]]
    assert figure_mismatches("  a  b\nnDCG@10 0.6789 0.6901\nnDCG@10 +0.0112 p=0.01\n",
                             documented_figures("lilsr evaluate a b\n" + two_runs)[0], check_values=True) == [
        "nDCG@10#2: documented 0.6826, printed 0.6901 (tolerance 0.002)"]


def test_a_stale_documented_figure_fails_on_the_fixture():
    """By default (the small SciFact) a figure is stale when the fixture prints other than it did when the
    guide's figure was confirmed: the default-table change moved both."""
    figures = [("nDCG@10", 0.6451), ("RR@10", 0.6076)]
    recorded = {"nDCG@10": (0.6451, 0.5120), "RR@10": (0.6076, 0.4800)}
    assert stale_fixture_figures("nDCG@10 0.5131\nRR@10 0.4790\n", figures, recorded) == []  # within 0.002
    stale = stale_fixture_figures("nDCG@10 0.5301\nRR@10 0.4800\n", figures, recorded)
    assert len(stale) == 1 and stale[0].startswith("nDCG@10: the guide's 0.6451 is stale: on the test collection "
                                                   "the command prints 0.5301, not the 0.512 it printed")
    edited = stale_fixture_figures("nDCG@10 0.5120\nRR@10 0.4800\n", [("nDCG@10", 0.6585), ("RR@10", 0.6076)],
                                   recorded)
    assert len(edited) == 1 and "recorded against 0.6451" in edited[0]
    assert "no fixture figure recorded" in stale_fixture_figures("nDCG@10 0.5\n", figures, None)[0]


def test_every_documented_figure_is_recorded_for_the_fixture():
    """Each ``# NAME NUMBER`` of a cheap block has its fixture figure, recorded against the guide's value."""
    recorded = json.loads(FIXTURE_FIGURES.read_text(encoding="utf-8"))
    expected = {figure_key(block, line): {name: value for name, value in figures}
                for block in CHEAP_BLOCKS
                for line, figures in zip(command_lines(block.text), documented_figures(block.text)) if figures}
    assert {key: {name: pair[0] for name, pair in names.items()} for key, names in recorded.items()} == expected


def test_every_guide_figure_block_parses():
    for block in CHEAP_BLOCKS:
        assert len(documented_figures(block.text)) == len(command_lines(block.text)), block.where


def test_guides_have_bash_blocks_and_cheap_ones():
    assert len(ALL_BLOCKS) > 15 and len(CHEAP_BLOCKS) >= 6
    assert any(b.guide.name == "README.md" and b.cheap for b in ALL_BLOCKS)  # the quickstart


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.where)
def test_documented_lilsr_commands_parse(block):
    for line in command_lines(block.text):
        args = lilsr_args([expand(w, {"lilsr": ".venv/bin/lilsr"}) for w in shlex.split(line)])
        if args is None:
            continue
        try:
            check_parses(args)
        except click.ClickException as exc:
            pytest.fail(f"{block.where}: `{line}` does not parse: {exc.format_message()}")


def readme_order() -> list[Path]:
    """The order a newcomer reads the guides in: the README, then the guides its Commands table links, top to
    bottom, then those it links elsewhere (reliability, design), in order of first mention."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = text.split("\n## Commands", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"\(docs/([\w.-]+\.md)", commands) + re.findall(r"\(docs/([\w.-]+\.md)", text)
    return [REPO / "README.md", *(REPO / "docs" / name for name in dict.fromkeys(names))]


GUIDE_ORDER = readme_order()
CHEAP_GUIDES = [guide for guide in GUIDE_ORDER if any(block.guide == guide for block in CHEAP_BLOCKS)]


def test_the_readme_links_every_guide():
    assert set(GUIDE_ORDER) == set(GUIDES), f"guides the README never links: {sorted(set(GUIDES) - set(GUIDE_ORDER))}"


@pytest.fixture(scope="module")
def clone(small_corpus, tmp_path_factory):
    """One scratch checkout for every guide, as a fresh clone: <tmp>/repo (the guides' working directory, with
    docs/, benchmarks/ and tests/ linked and an empty out/ to come) and <tmp>/shared/data/scifact beside it (the
    small SciFact of the fixtures; the full one with LILSR_DOCS_REAL_DATA=1). Guides run in the README's order
    against the same out/, so a guide that needs what a later one makes fails; ``outcomes`` records each guide
    run so far (None: passed; else why it failed)."""
    root = tmp_path_factory.mktemp("clone")
    data = root / "shared" / "data"
    data.mkdir(parents=True)
    (data / "scifact").symlink_to(Path(os.environ["LILSR_DATA_DIR"]) / "scifact" if REAL_DATA else small_corpus)
    cwd = root / "repo"
    cwd.mkdir()
    for name in ("docs", "benchmarks", "tests"):
        (cwd / name).symlink_to(REPO / name)
    env = {"LILSR_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "LILSR_PROGRESS": "0"}
    figures = json.loads(FIXTURE_FIGURES.read_text(encoding="utf-8")) if FIXTURE_FIGURES.exists() else {}
    yield {"cwd": cwd, "env": env, "outcomes": {}, "figures": figures}
    if RECORD_FIGURES and not REAL_DATA:
        FIXTURE_FIGURES.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def run_line(line: str, env: dict, cwd: Path, where: str) -> str:
    """Run one logical line; returns what it printed."""
    words = [expand(w, env) for w in shlex.split(line)]
    if words[0] == "export":
        for item in words[1:]:
            key, _, value = item.partition("=")
            env[key] = value
        return ""
    if len(words) == 1 and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
        key, _, value = words[0].partition("=")
        env[key] = value
        return ""
    args = lilsr_args(list(words))
    if args is not None:
        result = CliRunner().invoke(main, args, catch_exceptions=True)
        if result.exit_code != 0:
            pytest.fail(f"{where}: `{line}` exited {result.exit_code}:\n{result.output[-3000:]}"
                        + (f"\n{result.exc_info[1]!r}" if result.exc_info and result.exit_code == 1 else ""))
        return result.output
    if words[0] in (".venv/bin/python", "python") and len(words) > 1 and words[1].startswith("benchmarks/"):
        done = subprocess.run([sys.executable, *words[1:]], cwd=cwd, env={**os.environ, **env},
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"{where}: `{line}` exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        return done.stdout
    pytest.fail(f"{where}: `{line}`: the docs test runs lilsr commands, benchmarks and export/VAR=value lines; "
                "mark this block as not cheap or write it with those")


def run_guide(guide: Path, clone: dict, monkeypatch) -> None:
    """A guide's cheap blocks, in order, in the shared checkout (they use what earlier blocks and guides made)."""
    cwd, env = clone["cwd"], clone["env"]
    monkeypatch.chdir(cwd)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for block in (b for b in CHEAP_BLOCKS if b.guide == guide):
        missing = [need for need in block.needs if not (cwd / need).exists()]
        if missing:
            pytest.fail(f"{block.where}: needs {' '.join(missing)}, which no earlier block in the README's order "
                        "makes (a newcomer reading the guides in that order does not have it)")
        for line, figures in zip(command_lines(block.text), documented_figures(block.text)):
            output = run_line(line, env, cwd, block.where)
            problems = figure_mismatches(output, figures, check_values=REAL_DATA)
            if figures and not REAL_DATA:
                if RECORD_FIGURES:
                    printed = printed_figures(output)
                    clone["figures"][figure_key(block, line)] = {name: [value, printed.get(name)]
                                                                 for name, value in figures}
                else:
                    problems += stale_fixture_figures(output, figures, clone["figures"].get(figure_key(block, line)))
            if problems:
                pytest.fail(f"{block.where}: `{line}` does not print what the guide shows: {'; '.join(problems)}")
            for key, value in env.items():  # exports apply to the following lines, as in a shell
                env[key] = str((cwd / value).resolve()) if key == "LILSR_DATA_DIR" else value
                monkeypatch.setenv(key, env[key])


@pytest.mark.parametrize("guide", CHEAP_GUIDES, ids=lambda g: str(g.relative_to(REPO)))
def test_cheap_documented_commands_run(guide, clone, monkeypatch):
    """The guides' cheap blocks run as a newcomer would: the README's order, one shared out/ folder. The guides
    before this one run first (here, when this test runs alone), so each sees what they leave."""
    outcomes = clone["outcomes"]
    for earlier in CHEAP_GUIDES[:CHEAP_GUIDES.index(guide)]:
        if earlier not in outcomes:
            try:
                run_guide(earlier, clone, monkeypatch)
                outcomes[earlier] = None
            except pytest.fail.Exception as exc:
                outcomes[earlier] = str(exc)
        if outcomes[earlier] is not None:
            pytest.fail(f"{guide.relative_to(REPO)} cannot run from a fresh clone: {earlier.relative_to(REPO)}, "
                        f"before it in the README's order, failed: {outcomes[earlier].splitlines()[0]}")
    try:
        run_guide(guide, clone, monkeypatch)
    except pytest.fail.Exception as exc:
        outcomes[guide] = str(exc)
        raise
    outcomes[guide] = None


def documented_defaults(guide: Path, header: str) -> dict[str, str]:
    """``--option VALUE`` cells of the column ``header`` of the guide's tables: the defaults it states."""
    found, column = {}, None
    for line in guide.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            column = None
        elif header in cells:
            column = cells.index(header)
        elif column is not None and column < len(cells):
            match = re.fullmatch(r"`(--[\w-]+) ([^`]+)`", cells[column])
            if match:
                found[match.group(1)] = match.group(2)
    return found


def command_defaults(path: list[str]) -> dict[str, str]:
    """Each option of ``lilsr PATH...`` and the default ``--help`` shows for it."""
    ctx = click.Context(main, info_name="lilsr")
    cmd = main
    for name in path:
        cmd = cmd.get_command(ctx, name)
        ctx = click.Context(cmd, info_name=name, parent=ctx)
    return {opt: str(param.default) for param in cmd.params if isinstance(param, click.Option)
            for opt in param.opts if opt.startswith("--")}


def test_compression_guide_states_the_defaults_of_help():
    stated = documented_defaults(REPO / "docs" / "compression.md", "option (default values)")
    assert len(stated) >= 6  # every step of the settings table
    actual = command_defaults(["ablate", "compression"])
    wrong = {opt: (value, actual.get(opt)) for opt, value in stated.items() if actual.get(opt) != value}
    assert not wrong, f"docs/compression.md states defaults that `lilsr ablate compression --help` does not: {wrong}"


def test_guides_call_the_venv_lilsr_and_readme_says_how_to_activate():
    """``lilsr`` alone is not on a fresh clone's PATH: the guides call ``.venv/bin/lilsr``, and the README says
    once how to activate ``.venv`` for those who prefer to type ``lilsr``."""
    bare = []
    for block in ALL_BLOCKS:
        for line in command_lines(block.text):
            words = shlex.split(line)
            while words and words[0] in ("flock", "nice"):
                words = words[2:] if words[0] == "flock" else words[3:] if words[1:2] == ["-n"] else words[1:]
            if words and words[0] == "lilsr":
                bare.append(f"{block.where}: {line[:60]}")
    assert not bare, f"guides calling bare `lilsr` (write .venv/bin/lilsr): {bare}"
    assert "source .venv/bin/activate" in (REPO / "README.md").read_text(encoding="utf-8")
