# The two set-up-and-run commands (see README.md). Both create .venv on first use.
PY := .venv/bin/python
ARGS ?=

.PHONY: env train test lint format

env:
	@scripts/setup_env.sh

# Main job: dot, dcn and dlf on the embedded default data, each launched with TorchX.
train: env
	@PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) launch/main_job.py $(ARGS)

# Tests (CI runs exactly this): the formatter and linter first, then pytest.
test: env lint
	@PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) -m pytest -q tests $(ARGS)

# ruff (pyproject.toml): black-compatible formatting at 88 columns, pyflakes, sorted imports.
# `make format` rewrites the tree to pass it.
lint: env
	@$(PY) -m ruff format --check --quiet . || { echo "lint: run 'make format'" >&2; exit 1; }
	@$(PY) -m ruff check --quiet .

format: env
	@$(PY) -m ruff check --fix --quiet . ; $(PY) -m ruff format --quiet .
