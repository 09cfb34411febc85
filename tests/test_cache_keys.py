"""The comparison's cache keys (``reports.workspace``): how the data folder is spelled never changes a key,
what the corpus holds always does. ``make demo`` promises that a re-run reuses every finished step, also after
the README's ``export LILSR_DATA_DIR=../shared/data`` (the Makefile passes an absolute path)."""

import shutil

from lilsr_tools.data.collection import resolve_collection
from lilsr_tools.reports.grid import ModelSpec
from lilsr_tools.reports.workspace import Workspace


def _layout(small_corpus, tmp_path):
    data = tmp_path / "shared" / "data"
    shutil.copytree(small_corpus, data / "scifact")
    repo = tmp_path / "repo"
    repo.mkdir()
    return repo, data


def test_a_relative_and_an_absolute_data_dir_share_the_cache(small_corpus, tmp_path, monkeypatch):
    repo, data = _layout(small_corpus, tmp_path)
    monkeypatch.chdir(repo)
    model = ModelSpec("tiny", checkpoint="splade-tiny")  # no trained head: its table is text idf over the corpus
    tables = []
    for spelling in ("../shared/data", str(data)):
        monkeypatch.setenv("LILSR_DATA_DIR", spelling)
        workspace = Workspace(repo / "cmp", resolve_collection("scifact"), "test", progress=False)
        tables.append(workspace.table(model))
    assert str(resolve_collection("scifact").root) == str(data / "scifact")
    assert tables[0] == tables[1]
    assert len(list((repo / "cmp" / "artifacts" / "tables").iterdir())) == 1


def test_an_edited_corpus_gets_new_cache_entries(small_corpus, tmp_path, monkeypatch):
    repo, data = _layout(small_corpus, tmp_path)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("LILSR_DATA_DIR", "../shared/data")
    model = ModelSpec("tiny", checkpoint="splade-tiny")
    first = Workspace(repo / "cmp", resolve_collection("scifact"), "test", progress=False).table(model)
    corpus = data / "scifact" / "corpus.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines(keepends=True)
    corpus.write_text("".join(lines[:-1]), encoding="utf-8")  # one document fewer, same path
    second = Workspace(repo / "cmp", resolve_collection("scifact"), "test", progress=False).table(model)
    assert first != second
