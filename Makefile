# Edge classifier: VGG16 transfer learning -> int8 TFLite -> Raspberry Pi camera.
# `make help` lists the targets. Every target that needs Python builds .venv itself.

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
SAMPLE   := data/sample
DATA     ?= $(SAMPLE)
NAME     ?= sample
MODEL    ?= models/$(NAME)
SIZE     ?= 96
WEIGHTS  ?= auto
EPOCHS   ?= 8
FINETUNE ?= 4
BATCH    ?= 32
MAX_DROP ?= 1.0
THREADS  ?= 2
SOURCE   ?= 0
PI       ?=
DEST     ?= ~/edge-classifier
SERVICE  ?= 0
TRAIN_ARGS   ?=
CONVERT_ARGS ?=
CAMERA_ARGS  ?=
PYTEST_ARGS  ?=

.DEFAULT_GOAL := help
.PHONY: help setup data train convert camera classify test lint format bench deploy undeploy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'
	@echo ""
	@echo "Variables (current value): DATA=$(DATA) MODEL=$(MODEL) SIZE=$(SIZE) WEIGHTS=$(WEIGHTS)"
	@echo "  EPOCHS=$(EPOCHS) FINETUNE=$(FINETUNE) BATCH=$(BATCH) MAX_DROP=$(MAX_DROP) THREADS=$(THREADS) SOURCE=$(SOURCE)"
	@echo "  PI=user@host DEST=$(DEST) SERVICE=0|1 (deploy)"

# The venv is rebuilt only when pyproject.toml changes (the stamp is older than it).
$(VENV)/.stamp: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.stamp ## Create .venv and install the project (train + edge + dev extras)

$(SAMPLE)/.complete: | $(VENV)/.stamp
	$(PY) -m train.sample_data --out $(SAMPLE)

data: $(SAMPLE)/.complete ## Generate the built-in synthetic sample dataset (data/sample)

# Only the built-in sample is generated on demand; your own DATA must exist.
TRAIN_DEPS := $(VENV)/.stamp $(if $(filter $(SAMPLE),$(DATA)),$(SAMPLE)/.complete)

train: $(TRAIN_DEPS) ## Train VGG16 on DATA into MODEL (head, then fine-tune block5)
	$(PY) -m train --data $(DATA) --out $(MODEL) --size $(SIZE) --weights $(WEIGHTS) \
		--epochs-head $(EPOCHS) --epochs-finetune $(FINETUNE) --batch-size $(BATCH) $(TRAIN_ARGS)

convert: $(VENV)/.stamp ## Quantize MODEL to int8 TFLite and check it against float (gate: MAX_DROP points)
	$(PY) -m convert --model $(MODEL) --max-drop $(MAX_DROP) --threads $(THREADS) $(CONVERT_ARGS)

camera: $(VENV)/.stamp ## Classify live frames from SOURCE with MODEL (python -m edge.camera)
	$(PY) -m edge.camera --model $(MODEL) --source $(SOURCE) --threads $(THREADS) $(CAMERA_ARGS)

test: $(VENV)/.stamp ## Run the test suite (no camera, GPU or network needed)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.stamp ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.stamp ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.stamp ## Run the benchmarks in bench/ (ratios measured side by side)
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

deploy: $(VENV)/.stamp ## Copy edge/ + MODEL to a Raspberry Pi: make deploy PI=user@host [SERVICE=1]
	@test -n "$(PI)" || { echo "error: say where to deploy: make deploy PI=user@host"; exit 2; }
	$(PY) tools/deploy.py --host $(PI) --model $(MODEL) --dest $(DEST) $(if $(filter 1,$(SERVICE)),--service)

undeploy: $(VENV)/.stamp ## Remove the boot service from the Pi: make undeploy PI=user@host
	@test -n "$(PI)" || { echo "error: say which device: make undeploy PI=user@host"; exit 2; }
	$(PY) tools/deploy.py --host $(PI) --dest $(DEST) --undeploy

clean: ## Remove generated data, models and caches (keeps .venv)
	rm -rf data/sample models/sample .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
