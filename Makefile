# The two set-up-and-run commands (see README.md). Both create .venv on first use.
PY := .venv/bin/python
ARGS ?=

.PHONY: env train test

env:
	@scripts/setup_env.sh

# Main job: dot, dcn and dlf on the embedded default data, each launched with TorchX.
train: env
	@PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) launch/main_job.py $(ARGS)

# Tests (CI runs exactly this).
test: env
	@PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) -m pytest -q tests $(ARGS)
