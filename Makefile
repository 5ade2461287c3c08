# Two commands do all the set-up on a fresh machine:
#   make demo   generate the course, grade the bundled example class, print scores, write reports
#   make test   the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test validate release benchmark clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned in pyproject.toml (torch==2.13.0, the CPU build); installed first so nothing pulls a CUDA build
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	./scripts/install-system-packages.sh bubblewrap chromium postgresql
	touch $@

demo: setup
	$(BIN)/graders demo

test: setup
	$(BIN)/python -m pytest -q

validate: setup
	$(BIN)/graders validate --all

release: setup
	$(BIN)/graders generate --all

benchmark: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf submitted autograded/*/ feedback reports gradebook.db test-artifacts
