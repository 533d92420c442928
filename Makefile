# summarytool and its workstation image. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# The torch the local venv gets. The image pins its own (2.8.0) through its lock file.
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: help venv demo test test-unit test-fast lint bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# The package alone (what the demo needs), then the test toolchain on top (what `make test` needs).
$(VENV)/.package: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "$(TORCH_SPEC)" numpy  # (torch warns at every import without NumPy)
	$(VENV)/bin/pip install --quiet -e '.[gpu]'
	touch $@

$(VENV)/.installed: $(VENV)/.package
	$(VENV)/bin/pip install --quiet -e '.[test,gpu]'
	touch $@

venv: $(VENV)/.installed ## create .venv with torch, summarytool (editable) and the test toolchain

demo: $(VENV)/.package ## the main job: check this machine's GPU stack and summarise the reference model
	$(VENV)/bin/summarytool selfcheck --allow-cpu
	@echo
	@echo "summarytool is installed in $(VENV). To use it from this shell:"
	@echo "  source $(VENV)/bin/activate && summarytool --help"
	@echo "or call it by its path: $(VENV)/bin/summarytool summary MODULE:Model --input-size 1,3,224,224"
	@echo "Into your own environment instead: pip install $(CURDIR)"

test: venv ## lint and run every test
	$(MAKE) lint
	$(PY) tests/run.py

test-unit: venv ## the Python tests only (no image)
	$(PY) tests/run.py -m "not image"

test-fast: venv ## the quick part: no image, nothing marked slow
	$(PY) tests/run.py -m "not image and not slow"

lint: venv ## ruff on the package, tests, benchmarks and examples
	$(VENV)/bin/ruff check summarytool tests bench examples
	$(VENV)/bin/ruff format --check summarytool tests bench examples

bench: venv ## the speed benchmark against torchinfo (prints a table)
	$(PY) bench/bench_speed.py

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info

# The dry-run corpus (tests/capture/test_dry_run_corpus.py) with torchvision and timm: they do not install beside
# the main venv's torch, so they get a venv of their own. (~5 min and ~6 GB the first time.)
VISION_VENV ?= .venv-vision

$(VISION_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VISION_VENV)
	$(VISION_VENV)/bin/pip install torch==2.14.1 torchvision==0.29.1 timm transformers pytest hypothesis numpy
	$(VISION_VENV)/bin/pip install -e .
	touch $@

.PHONY: test-corpus
test-corpus: $(VISION_VENV)/.installed ## the dry-run corpus with torchvision and timm, in .venv-vision
	$(VISION_VENV)/bin/python -m pytest -q tests/capture/test_dry_run_corpus.py

# ---- the workstation image (see Dockerfile, image/, docker-compose.yml) -------------------------------
IMAGE ?= summarytool-workstation
TAG ?= latest
BASE_IMAGE ?= nvidia/cuda:12.8.1-base-ubuntu24.04
DOCKER ?= docker
COMPOSE ?= $(DOCKER) compose
# One instance per teammate (compose project summarytool-$(NAME)); image/instances.py picks the ports.
NAME ?= $(or $(USER),$(shell id -un))
INSTANCES := $(PYTHON) image/instances.py
REGISTRY ?=
IMAGE_TOOLS := build/image-tools
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

.PHONY: build run run-cpu stop ps logs shell ssh selfcheck lock pin-base lint-image test-image push image-size

$(IMAGE_TOOLS)/.installed: requirements/image-test.txt
	$(PYTHON) -m venv $(IMAGE_TOOLS)
	$(IMAGE_TOOLS)/bin/pip install --quiet -r requirements/image-test.txt
	touch $@

build: ## build the workstation image (IMAGE, TAG, BASE_IMAGE can be set)
	$(DOCKER) build --build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg VERSION=$(VERSION) \
	  --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
	  --build-arg SOURCE=$$(git remote get-url origin 2>/dev/null || echo unknown) \
	  -t $(IMAGE):$(TAG) .

run: ## start your own instance: make run NAME=alice [GPUS=auto|auto:2|0,1|all|none CPUS= MEMORY=] (docs/sharing.md)
	IMAGE=$(IMAGE) TAG=$(TAG) DOCKER="$(DOCKER)" $(INSTANCES) up --name '$(NAME)'

run-cpu: ## start your own instance without a GPU (GPUS=none: the compose CPU variant)
	IMAGE=$(IMAGE) TAG=$(TAG) DOCKER="$(DOCKER)" $(INSTANCES) up --name '$(NAME)' --gpus none

stop: ## stop your instance: make stop NAME=alice (volumes are kept)
	DOCKER="$(DOCKER)" $(INSTANCES) down --name '$(NAME)'

ps: ## every instance on this server: owner, ports, GPUs, uptime, health
	@DOCKER="$(DOCKER)" $(INSTANCES) ps

logs: ## follow your instance's log (self-check report, Jupyter token, SSH fingerprints)
	$(COMPOSE) -p summarytool-$(NAME) logs -f workstation

shell: ## a bash shell as dev inside your running instance
	$(COMPOSE) -p summarytool-$(NAME) exec -u dev workstation bash -l

ssh: ## ssh into your running instance as dev
	ssh -p $$(DOCKER="$(DOCKER)" $(INSTANCES) port --name '$(NAME)' ssh) dev@localhost

selfcheck: ## run summarytool selfcheck in a fresh container with all GPUs
	$(DOCKER) run --rm --gpus all -e SELFCHECK=off $(IMAGE):$(TAG) summarytool selfcheck

lock: $(IMAGE_TOOLS)/.installed ## regenerate requirements/image.lock (hashes, from PyPI) from requirements/image.in
	$(IMAGE_TOOLS)/bin/uv pip compile requirements/image.in --universal --python-version 3.11 \
	  --generate-hashes --index-url https://pypi.org/simple --no-config \
	  --custom-compile-command 'make lock' -o requirements/image.lock

pin-base: ## resolve the base image's tag to a digest and pin it in the Dockerfile (needs the registry)
	$(PYTHON) image/pin_base.py

lint-image: $(IMAGE_TOOLS)/.installed ## hadolint, shellcheck, compose validation
	$(IMAGE_TOOLS)/bin/hadolint Dockerfile
	$(IMAGE_TOOLS)/bin/shellcheck image/*.sh
	$(IMAGE_TOOLS)/bin/docker-compose -f docker-compose.yml config -q
	$(IMAGE_TOOLS)/bin/docker-compose -f docker-compose.yml -f docker-compose.cpu.yml config -q

test-image: venv $(IMAGE_TOOLS)/.installed ## build and test the real image (needs a Docker engine; see image/ci-prepare.sh)
	PATH=$(CURDIR)/$(IMAGE_TOOLS)/bin:$$PATH $(PY) -m pytest -q -m image tests/image

image-size: ## print the image's size: uncompressed, and compressed as pushed (docker save | gzip)
	@echo "uncompressed: $$($(DOCKER) image inspect $(IMAGE):$(TAG) --format '{{.Size}}') bytes"
	@echo "compressed:   $$($(DOCKER) save $(IMAGE):$(TAG) | gzip | wc -c) bytes"

push: ## tag and push the image: make push REGISTRY=registry.example.com/team
	@test -n "$(REGISTRY)" || { echo "usage: make push REGISTRY=host/namespace"; exit 2; }
	$(DOCKER) tag $(IMAGE):$(TAG) $(REGISTRY)/$(IMAGE):$(TAG)
	$(DOCKER) push $(REGISTRY)/$(IMAGE):$(TAG)
