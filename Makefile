# stackbuild: every target calls the CLI; the image hierarchy lives only in stacks/.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE ?= .state
REGISTRY_ADDR ?= 127.0.0.1:5000
DEMO_ROOTFS := stacks/demo/os/rootfs

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/stackbuild: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/stackbuild ## create the virtualenv with stackbuild and its dev tools

setup: venv ## bring up Docker 26 + buildx + QEMU + registry on :5000 and the base rootfs (idempotent)
	@bash scripts/setup-engine.sh $(STATE) $(REGISTRY_ADDR)
	@bash scripts/make-rootfs.sh $(DEMO_ROOTFS) bookworm amd64 arm64
	@# an editable install is not byte-compiled; with PYTHONDONTWRITEBYTECODE set, every run would compile it
	@$(BIN)/python -m compileall -q engine graph

teardown: ## stop the registry and dockerd that setup started (images and data are kept)
	@bash scripts/teardown-engine.sh $(STATE)

BASE ?= origin/main
# Targets, registry, jobs and cache come from [tool.stackbuild] in pyproject.toml; ARGS adds flags.
ARGS ?=

# Stack secrets may read host files only where the operator allows (README, Secrets): the demo hands
# the host's CA bundle to pip. Empty it (make pr SECRET_SRC_ALLOW=) to allow none.
SECRET_SRC_ALLOW ?= /etc/ssl/certs/ca-certificates.crt
SECRET_FLAGS := $(foreach path,$(SECRET_SRC_ALLOW),--secret-src-allow $(path))

plan: venv ## print the build plan of the default stacks (dry run; secrets checked as build checks them)
	$(BIN)/stackbuild plan $(SECRET_FLAGS) $(ARGS)

matrix: setup ## nightly: rebuild the default stacks from scratch into the local registry
	$(BIN)/stackbuild build --full --keep-going $(SECRET_FLAGS) $(ARGS)

pr: setup ## pull request: rebuild what changed since BASE (default origin/main) and its descendants
	$(BIN)/stackbuild build --changed-since $(BASE) $(SECRET_FLAGS) $(ARGS)

graph: venv ## draw the default stacks' plan as build/graph.svg
	@mkdir -p build
	$(BIN)/stackbuild graph --format svg --out build/graph.svg $(ARGS)

test: setup ## run every test (unit and real-engine integration)
	$(BIN)/pytest -q

unit: venv ## run the fast unit tests only
	$(BIN)/pytest -q -m "not engine"

lint: venv ## ruff, mypy and the import layers (import-linter)
	$(BIN)/ruff check graph engine tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: help venv setup teardown plan matrix pr graph test unit lint

bench: setup ## run the benchmarks (stackbuild beside buildx bake, planner at scale, scheduler) into bench/results.*
	$(BIN)/python -m bench.run

.PHONY: bench

FUZZ_EXAMPLES ?= 2000
fuzz: venv ## fuzz the stack loader: FUZZ_EXAMPLES (default 2000) mutated and generated stack files per property
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider \
		tests/graph/load/test_fuzz_loader.py tests/graph/load/test_corpus.py

.PHONY: fuzz
