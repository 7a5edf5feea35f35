# Edge classifier: VGG16 transfer learning -> int8 TFLite -> Raspberry Pi camera.
# `make help` lists the targets. Every target that needs Python builds .venv itself.

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
SAMPLE   := data/sample
DATA     ?= $(SAMPLE)
NAME     ?= sample
MODEL    ?= models/$(NAME)
# The built-in sample's first run takes a short recipe (docs/first-run.md): 80 px, block4
# fine-tuned for a few epochs. Your own DATA keeps the full one; a SIZE or FINETUNE you set wins.
SIZE     ?= $(if $(IS_SAMPLE),80,96)
WEIGHTS  ?= auto
EPOCHS   ?= 60
FINETUNE ?= $(if $(IS_SAMPLE),6,60)
BUDGET   ?= 60
BATCH    ?= 32
MAX_DROP ?= 1.0
THREADS  ?= 2
SOURCE   ?= 0
PI       ?=
DEST     ?= ~/edge-classifier
SERVICE  ?= 0
PURGE    ?= 0
INVENTORY ?=
SERIAL   ?=
SERVE    ?= 0.0.0.0:8080
SERVICE_ARGS ?=
DEPLOY_ARGS  ?=
TRAIN_ARGS   ?=
CONVERT_ARGS ?=
CAMERA_ARGS  ?=
PYTEST_ARGS  ?=
SLIM     ?= $(MODEL)-slim
TARGET_MACS ?= 0.3
VAL_DROP ?= 1.0
PRUNE_ARGS   ?=

# User values reach the commands through the environment, never pasted into the recipe's
# shell text: "$$DATA" is expanded by the shell as one word and not parsed again, so a quote,
# ; or $(...) in a value stays part of the value. *_ARGS are split into words (set -f: no
# globbing) and nothing else.
export DATA NAME MODEL SIZE WEIGHTS EPOCHS FINETUNE BUDGET BATCH MAX_DROP THREADS SOURCE PI DEST
export SERVE SERVICE_ARGS DEPLOY_ARGS TRAIN_ARGS CONVERT_ARGS CAMERA_ARGS PYTEST_ARGS SAMPLE
export SLIM TARGET_MACS VAL_DROP PRUNE_ARGS

.DEFAULT_GOAL := help
# SLIM, TARGET_MACS, VAL_DROP (validation points a pruning step may lose), PRUNE_ARGS: make prune
# (python -m train.prune --help); MAX_DROP stays convert's gate (int8 test points)
.PHONY: help setup data train convert prune camera collect pull test test-fast test-pi lint format bench deploy rollback status undeploy pi-vm pi-vm-stop check-wheels clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-13s %s\n", $$1, $$2}'
	@echo ""
	@echo "Variables (current value): DATA=$$DATA MODEL=$$MODEL SIZE=$$SIZE WEIGHTS=$$WEIGHTS"
	@echo "  EPOCHS=$$EPOCHS FINETUNE=$$FINETUNE (at most: early stopping) BUDGET=$$BUDGET (minutes for training, 0: no limit) BATCH=$$BATCH MAX_DROP=$$MAX_DROP THREADS=$$THREADS SOURCE=$$SOURCE"
	@echo "  PI=user@host DEST=$$DEST SERVICE=0|1 SERVE=$$SERVE SERVICE_ARGS='--source picamera2' PURGE=0|1"
	@echo "  INVENTORY=pis.ini (instead of PI) SERIAL=N (deploy N Pis at a time) DEPLOY_ARGS='--port 2222 --identity ~/.ssh/pi' (python -m tools.deploy --help)"

# The venv is rebuilt only when pyproject.toml changes (the stamp is older than it).
$(VENV)/.stamp: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.stamp ## Create .venv and install the project (train + edge + dev extras)

# Drawn again when the generator changes; it refuses to replace a sample holding anything it
# did not write (a photo you added), so nothing of yours is lost.
$(SAMPLE)/.complete: train/sample_data.py train/sample_shapes.py | $(VENV)/.stamp
	$(PY) -m train.sample_data --out "$$SAMPLE"

data: $(SAMPLE)/.complete ## Generate the built-in synthetic sample dataset (data/sample)

# Only the built-in sample is generated on demand; your own DATA must exist.
IS_SAMPLE  := $(filter $(SAMPLE),$(DATA))
TRAIN_DEPS := $(VENV)/.stamp $(if $(IS_SAMPLE),$(SAMPLE)/.complete)
# The sample is generated, so more of it is held out than of your photos (15 % + 15 %): 30 %
# test = 450 photos, so one photo is 0.22 points against the 1-point int8 gate (at 15 % it was
# 150 photos and 0.67 points: one flip passed, two failed); 20 % validation = 300.
SAMPLE_SPLIT := $(if $(IS_SAMPLE),--val-fraction 0.2 --test-fraction 0.3)
SAMPLE_RECIPE := $(if $(IS_SAMPLE),--features block4 --finetune-from block4_conv1)

train: $(TRAIN_DEPS) ## Train VGG16 on DATA into MODEL (features and fine-tuning depth chosen on validation)
	set -f; $(PY) -m train --data "$$DATA" --out "$$MODEL" --size "$$SIZE" --weights "$$WEIGHTS" \
		--epochs-head "$$EPOCHS" --epochs-finetune "$$FINETUNE" --time-budget "$$BUDGET" \
		--batch-size "$$BATCH" $(SAMPLE_SPLIT) $(SAMPLE_RECIPE) $$TRAIN_ARGS

convert: $(VENV)/.stamp ## Quantize MODEL to int8 TFLite and check it against float (gate: MAX_DROP points)
	set -f; $(PY) -m convert --model "$$MODEL" --max-drop "$$MAX_DROP" --threads "$$THREADS" $$CONVERT_ARGS

# Convert the unpruned model only when it has no int8 model yet; the pruned one always.
prune: $(VENV)/.stamp ## Prune MODEL's conv filters into SLIM (TARGET_MACS of the MACs), convert both, compare
	set -f; $(PY) -m train.prune --model "$$MODEL" --out "$$SLIM" --target-macs "$$TARGET_MACS" \
		--max-val-drop "$$VAL_DROP" $$PRUNE_ARGS
	set -f; test -f "$$MODEL/int8.tflite" || $(PY) -m convert --model "$$MODEL" --max-drop "$$MAX_DROP" \
		--threads "$$THREADS" $$CONVERT_ARGS
	set -f; $(PY) -m convert --model "$$SLIM" --max-drop "$$MAX_DROP" --threads "$$THREADS" $$CONVERT_ARGS
	$(PY) -m train.prune.compare --model "$$MODEL" --slim "$$SLIM"

camera: $(VENV)/.stamp ## Classify live frames from SOURCE with MODEL (python -m edge.camera)
	set -f; $(PY) -m edge.camera --model "$$MODEL" --source "$$SOURCE" --threads "$$THREADS" $$CAMERA_ARGS

# Photos from the device camera (python -m edge.collect): on this machine without PI, on the
# Pi over ssh with PI=user@host (its boot service is stopped meanwhile and started again).
collect: $(VENV)/.stamp ## Collect photos into DATA from SOURCE (a page at 127.0.0.1:8000): make collect [PI=user@host SOURCE=picamera2] DATA=data/NAME
	@if [ -n "$$PI" ]; then \
		src="$$SOURCE"; [ "$$src" = 0 ] && src=picamera2; \
		$(PY) -m tools.collect_remote collect --host "$$PI" --name "$$(basename -- "$$DATA")" \
			--source "$$src" --dest "$$DEST" --out "$$DATA"; \
	else $(PY) -m edge.collect --source "$$SOURCE" --out "$$DATA"; fi

pull: $(VENV)/.stamp ## Copy new photos from the Pi into DATA (nothing here is overwritten): make pull PI=user@host DATA=data/NAME
	@test -n "$$PI" || { echo "error: say which device: make pull PI=user@host DATA=data/NAME"; exit 2; }
	$(PY) -m tools.collect_remote pull --host "$$PI" --name "$$(basename -- "$$DATA")" --out "$$DATA"

test: $(VENV)/.stamp ## Run the test suite (no camera, GPU or network needed; the virtual-Pi tests are make test-pi)
	set -f; $(PY) -m pytest -m "not pi_vm" $$PYTEST_ARGS

test-pi: $(VENV)/.stamp ## Deploy to the virtual Pis (make pi-vm builds them): Ansible, both trees, systemd in a booted VM
	set -f; $(PY) -m pytest -m pi_vm $$PYTEST_ARGS

test-fast: $(VENV)/.stamp ## The edit-test loop: the suite without the slow (train/convert) and device-version tests
	set -f; $(PY) -m pytest -m "not slow and not device_versions and not pi_vm" $$PYTEST_ARGS

lint: $(VENV)/.stamp ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.stamp ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.stamp ## Run the benchmarks in bench/ (ratios measured side by side)
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Deploy runs Ansible (tools/ansible), installed into .venv on first use (the `deploy` extra).
# The values reach tools.deploy through the environment, never pasted into the recipe's shell
# text; "$$DEST" stays quoted so that ~ means the home folder on the Pi, not here.
export INVENTORY SERIAL

$(VENV)/bin/ansible-playbook: | $(VENV)/.stamp
	$(PY) -m pip install --quiet -e '.[deploy]'

deploy: $(VENV)/.stamp $(VENV)/bin/ansible-playbook ## Copy edge/ + MODEL to Raspberry Pis with Ansible, smoke-test and benchmark there: make deploy PI="pi@a pi@b" (or INVENTORY=pis.ini) [SERVICE=1]
	@test -n "$$PI$$INVENTORY" || { echo "error: say where to deploy: make deploy PI=user@host (or INVENTORY=pis.ini)"; exit 2; }
	set -f; $(PY) -m tools.deploy $${INVENTORY:+--inventory "$$INVENTORY"} $${PI:+--host "$$PI"} --model "$$MODEL" \
		--dest "$$DEST" --serve "$$SERVE" --camera-args="$$SERVICE_ARGS" $(if $(filter 1,$(SERVICE)),--service) \
		$${SERIAL:+--serial "$$SERIAL"} $$DEPLOY_ARGS

status: $(VENV)/.stamp $(VENV)/bin/ansible-playbook ## How every Pi is doing (release, model, service, fps, unknown/uncertain, temperature, disk); exit 1 if any is down: make status PI="a b" [DEPLOY_ARGS=--json]
	@test -n "$$PI$$INVENTORY" || { echo "error: say which devices: make status PI=user@host (or INVENTORY=pis.ini)"; exit 2; }
	@set -f; $(PY) -m tools.deploy $${INVENTORY:+--inventory "$$INVENTORY"} $${PI:+--host "$$PI"} --dest "$$DEST" \
		--status $$DEPLOY_ARGS

rollback: $(VENV)/.stamp $(VENV)/bin/ansible-playbook ## Switch the Pis back to the release that served before the current one, and restart: make rollback PI=user@host
	@test -n "$$PI$$INVENTORY" || { echo "error: say which device: make rollback PI=user@host (or INVENTORY=pis.ini)"; exit 2; }
	set -f; $(PY) -m tools.deploy $${INVENTORY:+--inventory "$$INVENTORY"} $${PI:+--host "$$PI"} --dest "$$DEST" \
		--rollback $$DEPLOY_ARGS

undeploy: $(VENV)/.stamp $(VENV)/bin/ansible-playbook ## Remove the boot service from the Pis (PURGE=1: and DEST): make undeploy PI=user@host
	@test -n "$$PI$$INVENTORY" || { echo "error: say which device: make undeploy PI=user@host (or INVENTORY=pis.ini)"; exit 2; }
	set -f; $(PY) -m tools.deploy $${INVENTORY:+--inventory "$$INVENTORY"} $${PI:+--host "$$PI"} --dest "$$DEST" \
		--undeploy $(if $(filter 1,$(PURGE)),--purge) $$DEPLOY_ARGS

pi-vm: $(VENV)/.stamp ## Build (once) and start virtual Raspberry Pis: arm64 Bookworm + Trixie trees, sshd on 127.0.0.1 (apt: mmdebstrap qemu-user-static binfmt-support; the systemd VM: qemu-system-arm qemu-utils)
	@for tool in mmdebstrap:mmdebstrap qemu-aarch64-static:qemu-user-static qemu-system-aarch64:qemu-system-arm qemu-img:qemu-utils; do \
		command -v "$${tool%%:*}" >/dev/null || echo "note: $${tool%%:*} is missing: sudo apt install $${tool#*:}"; done
	$(PY) -m tools.pi_vm up

pi-vm-stop: $(VENV)/.stamp ## Stop the virtual Raspberry Pis (their trees stay cached)
	$(PY) -m tools.pi_vm stop

check-wheels: $(VENV)/.stamp ## Check that every device requirement has aarch64 wheels for Python 3.11 and 3.13 (network)
	$(PY) -m tools.check_wheels

clean: ## Remove generated data, models and caches (keeps .venv)
	rm -rf data/sample models/sample .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
