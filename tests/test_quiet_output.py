"""A successful command prints its own lines only: no C++ log lines, temporary paths or gRPC errors from the
libraries under it (issue 24, item 10)."""

import os
import subprocess
import sys

from click.testing import CliRunner

from lilsr_tools.cli import main


def test_index_pisa_keeps_pisa_log_lines_unless_verbose(small_vectors, tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("LILSR_VERBOSE", raising=False)
    result = CliRunner().invoke(main, ["index", "pisa", str(small_vectors.path), str(tmp_path / "quiet")])
    assert result.exit_code == 0, result.output
    seen = capfd.readouterr()
    assert "[info]" not in seen.out + seen.err + result.output
    assert ".tmp" not in seen.out + seen.err  # the atomic write's temporary folder
    verbose = CliRunner().invoke(main, ["index", "pisa", str(small_vectors.path), str(tmp_path / "loud"), "--verbose"])
    assert verbose.exit_code == 0, verbose.output
    assert "[info]" in capfd.readouterr().err


def test_grpc_logging_is_quiet_before_milvus_loads():
    code = ("import os, lilsr_tools.engines.milvus.client as c; c.import_pymilvus(); "
            "print(os.environ.get('GRPC_VERBOSITY'))")
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["NONE"]


def test_the_venv_build_hides_pip_warnings_but_not_its_errors():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    line = next(line for line in makefile.splitlines() if line.startswith("PIP :="))
    words = line.split(":=", 1)[1].split()
    assert words[:4] == ["$(BIN)/python", "-m", "pip", "install"] and "-qq" in words  # warnings: -q shows them
    done = subprocess.run([sys.executable, *words[1:], "--no-index", "lilsr-no-such-package"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert done.returncode != 0 and "ERROR" in done.stderr and "WARNING" not in done.stderr
