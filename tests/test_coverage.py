"""A vector store that lacks documents of the collection it is evaluated on is refused (its missing documents
can never be retrieved: every figure would be silently too low) unless ``--partial`` says so; then the
coverage is printed and recorded in the report and the manifest."""

import json

from click.testing import CliRunner

from lilsr_tools.cli import main


def test_compare_refuses_a_store_covering_part_of_scifact(small_vectors, scifact_dir, tmp_path):
    args = ["compare", "--collection", "scifact", "--model", f"tiny={small_vectors.path}", "--encoder", "binary",
            "--engine", "exact", "-k", "100", "--out", str(tmp_path / "cmp")]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2, refused.output
    assert "covers 300 of the 5,183 documents of scifact (5.8%)" in refused.output
    assert "--partial" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "cmp" / "cells").exists()  # refused before any cell ran

    done = CliRunner().invoke(main, [*args, "--partial"])
    assert done.exit_code == 0, done.output
    assert "coverage: model 'tiny': " in done.output and "covers 300 of the 5,183 documents" in done.output
    assert "covers 300 of the 5,183 documents of scifact" in (tmp_path / "cmp" / "report.md").read_text()
    recorded = json.loads((tmp_path / "cmp" / "manifest.json").read_text())["coverage"]["tiny"]
    assert (recorded["covered"], recorded["corpus_documents"]) == (300, 5183)


def test_a_complete_store_needs_no_flag(small_vectors, small_corpus, tmp_path):
    done = CliRunner().invoke(main, ["compare", "--collection", str(small_corpus), "--model",
                                     f"tiny={small_vectors.path}", "--encoder", "binary", "--engine", "exact",
                                     "-k", "10", "--out", str(tmp_path / "cmp")])
    assert done.exit_code == 0, done.output
    assert "coverage:" not in done.output
    assert json.loads((tmp_path / "cmp" / "manifest.json").read_text())["coverage"]["tiny"]["share"] == 1.0


def test_the_ablations_refuse_it_too(small_vectors, scifact_dir, tmp_path):
    for command in (["ablate", "lambda", "--engine", "exact"], ["ablate", "context"],
                    ["ablate", "compression", "--engine", "exact"]):
        result = CliRunner().invoke(main, [*command, "--collection", "scifact", "--model", f"tiny={small_vectors.path}",
                                           "--out", str(tmp_path / command[1])])
        assert result.exit_code == 2 and "covers 300 of the 5,183 documents" in result.output, (command, result.output)
