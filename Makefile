# Two commands for a new user: `make run` and `make test`. Both install on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run check test bench doctor clean

install: $(STAMP)

# Re-install only when the dependency pins change.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[test,check]'
	touch $(STAMP)

run: install
	$(BIN)/python -m gateway --config config.yaml

# Lint (ruff) and strict typing (mypy --strict) over gateway/ and bench/; settings in pyproject.toml.
check: install
	$(BIN)/ruff check gateway bench
	$(BIN)/mypy

# Four xdist workers, each with its own servers and Redis: most of the suite waits on sockets, timers
# and child processes, not the CPU, so four beat two even on two cores (measured: ~70 s vs ~100 s).
# `--dist loadgroup` keeps tests marked with one xdist_group on one worker.
# Bytecode on: pytest caches its assertion-rewritten modules (~5 s of every worker's start-up).
test: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n 4 --dist loadgroup

# The gateway's cost over calling the (simulated) upstream directly: see bench/README.md.
# `make bench BENCH_ARGS=--quick` for a short run; any `python -m bench.run` flag goes there.
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Each configured account checked step by step against the real Qwen; DOCTOR_ARGS="--trace trace.jsonl".
doctor: install
	$(BIN)/python -m gateway doctor --config config.yaml $(DOCTOR_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
