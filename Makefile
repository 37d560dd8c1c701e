# Likeness: every task a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
INSIGHTFACE := insightface==2.1

# Models and data that no registry has (see ../shared/README.md).
SHARED ?= $(or $(LIKENESS_SHARED),$(abspath ../shared))
# the settings' environment variables are the defaults; MODEL=... on the command line wins
MODEL ?= $(or $(LIKENESS_MODEL_PACK),buffalo_l)
MODEL_ROOT ?= $(or $(LIKENESS_MODEL_ROOT),$(HOME)/.insightface/models)
TEST_MODEL_ROOT ?= $(SHARED)/models
LFW_DIR ?= $(SHARED)/datasets/lfw

export LIKENESS_SHARED := $(SHARED)

.PHONY: help install install-train install-docs docs docs-serve finetune-lowres eval-suite run serve test test-backend lint bench bench-gallery bench-eval bench-checks face-checks models eval up clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# insightface pins opencv-python, which must not sit beside opencv-python-headless:
# its runtime needs are in the lock file and it is installed without dependencies.
$(VENV)/.installed: $(BIN)/activate backend/requirements.lock backend/pyproject.toml eval/requirements.lock
	$(BIN)/pip install --quiet -r backend/requirements.lock
	$(BIN)/pip install --quiet -r eval/requirements.lock
	$(BIN)/pip install --quiet --no-deps $(INSIGHTFACE)
	$(BIN)/pip install --quiet --no-deps -e backend
	$(BIN)/pip install --quiet --no-deps -e eval
	$(PY) -m likeness.cli doctor --quiet
	touch $@

install: $(VENV)/.installed ## create .venv with pinned dependencies

# The optional `train` extra (PyTorch, onnx2torch) for `likeness train`; the tests
# need it (parity, a tiny training run). Never needed to serve.
$(VENV)/.installed-train: $(VENV)/.installed backend/requirements-train.lock
	$(BIN)/pip install --quiet -r backend/requirements-train.lock
	touch $@

install-train: $(VENV)/.installed-train ## add PyTorch and onnx2torch for fine-tuning

# The documentation site's tools (MkDocs, mkdocstrings): `make docs`, and its test.
$(VENV)/.installed-docs: $(VENV)/.installed backend/requirements-docs.lock
	$(BIN)/pip install --quiet -r backend/requirements-docs.lock
	touch $@

install-docs: $(VENV)/.installed-docs ## add MkDocs for the documentation site

docs: install-docs ## build the documentation site into site/ (reference generated from the code)
	$(BIN)/mkdocs build --strict -d site

docs-serve: install-docs ## browse the documentation site live on http://127.0.0.1:8001
	$(BIN)/mkdocs serve -a 127.0.0.1:8001

# The web app (frontend/): pinned npm packages, and its production build for `run`.
frontend/node_modules: frontend/package.json frontend/package-lock.json
	npm --prefix frontend ci
	touch $@

frontend/dist: frontend/node_modules frontend/index.html frontend/vite.config.js $(shell find frontend/src -type f 2>/dev/null)
	npm --prefix frontend run build
	touch $@

run: install frontend/dist ## start the service on LIKENESS_HOST:LIKENESS_PORT (default 127.0.0.1:8000)
	$(PY) -m likeness.cli models check --pack $(MODEL) --root $(MODEL_ROOT) || $(MAKE) models
	LIKENESS_MODEL_PACK=$(MODEL) LIKENESS_MODEL_ROOT=$(MODEL_ROOT) LIKENESS_STATIC_DIR=$(CURDIR)/frontend/dist \
	  $(BIN)/gunicorn --config backend/gunicorn.conf.py likeness.api.wsgi:app

test: install install-train install-docs frontend/node_modules ## install everything and run every test (needs ../shared)
	LIKENESS_TEST_MODEL_ROOT=$(TEST_MODEL_ROOT) LIKENESS_TEST_LFW_DIR=$(LFW_DIR) \
	  npm --prefix frontend test
	LIKENESS_TEST_MODEL_ROOT=$(TEST_MODEL_ROOT) LIKENESS_TEST_LFW_DIR=$(LFW_DIR) \
	  $(BIN)/pytest backend/tests eval/tests -q

lint: install frontend/node_modules ## ruff (backend, eval) and ESLint (web app); CI runs it
	$(BIN)/ruff check backend eval
	$(BIN)/ruff format --check backend eval
	npm --prefix frontend run --silent lint

bench: install ## API vs engine latency and 1 vs 2 worker throughput (buffalo_s)
	$(PY) backend/benchmarks/bench_api.py --model-root $(TEST_MODEL_ROOT) --lfw-dir $(LFW_DIR)

bench-checks: install ## what the face checks cost: detect/verify with and without them, per check
	$(PY) backend/benchmarks/bench_facechecks.py --model-root $(TEST_MODEL_ROOT) --lfw-dir $(LFW_DIR)

# The face checks' models (backend/likeness/quality/models/), rebuilt from ../shared:
# EDC calibration of the quality score on LFW + degraded copies (about 10 min the first
# time, cached after), then the cartoon classifier. Pictures in eval/out/facechecks.
CHECKS_MODEL ?= buffalo_s
CHECKS_ROOT ?= $(TEST_MODEL_ROOT)
face-checks: install ## rebuild the quality and cartoon models (CHECKS_MODEL=buffalo_s) from ../shared
	$(PY) -m likeness_eval.facechecks --lfw $(LFW_DIR) --model $(CHECKS_MODEL) \
	  --model-root $(CHECKS_ROOT) --out eval/out/facechecks-$(CHECKS_MODEL) --write
	$(PY) -m likeness_eval.cartoon --data $(SHARED)/datasets/cartoon-or-real --lfw $(LFW_DIR) \
	  --model $(CHECKS_MODEL) --model-root $(CHECKS_ROOT) --write

# 1:N gallery: identification on LFW, bulk indexing, search speed/recall (GALLERY_SIZES,
# e.g. GALLERY_SIZES="100000 1000000"; 1M takes about 10 minutes per data kind).
GALLERY_SIZES ?= 100000
BENCH_OUT ?= var/bench

bench-gallery: install ## 1:N: LFW rank-1/open set, bulk indexing vs a plain loop, search p50/recall
	@mkdir -p $(BENCH_OUT)
	$(PY) backend/benchmarks/bench_identification.py --model-root $(TEST_MODEL_ROOT) --lfw-dir $(LFW_DIR)
	$(PY) backend/benchmarks/bench_bulk.py --images 400 --model-root $(TEST_MODEL_ROOT) --lfw-dir $(LFW_DIR)
	$(PY) backend/benchmarks/lfw_embeddings.py --model-root $(TEST_MODEL_ROOT) --lfw-dir $(LFW_DIR) \
	  --out $(BENCH_OUT)/lfw-embeddings.npz
	$(PY) backend/benchmarks/bench_gallery.py --sizes $(GALLERY_SIZES) --data lfw clustered random \
	  --lfw-embeddings $(BENCH_OUT)/lfw-embeddings.npz --exact-sizes 200000 250000 300000 \
	  --out $(BENCH_OUT)/gallery.jsonl

# Evaluation harness (eval/README.md). DATA_DIR: a folder with the pair list and images,
# or an InsightFace .bin file. Extra options via EVAL_ARGS, e.g. EVAL_ARGS="--flip --limit 600".
DATASET ?= lfw
DATA_DIR ?= $(if $(filter lfw,$(DATASET)),$(LFW_DIR),$(SHARED)/datasets/$(DATASET))
OUT ?= eval/out/$(DATASET)-$(MODEL)
EVAL_ARGS ?=

eval: install ## benchmark the engine: DATASET=lfw|calfw|cplfw MODEL=... DATA_DIR=... OUT=...
	$(BIN)/likeness-eval --dataset $(DATASET) --model $(MODEL) --model-root $(MODEL_ROOT) \
	  --data-dir "$(DATA_DIR)" --out "$(OUT)" $(EVAL_ARGS)

feedback-sim: install ## calibrate from simulated votes on LFW folds 1-5, measure on 6-10 (buffalo_s)
	$(PY) -m likeness_eval.feedback_sim --lfw-dir $(LFW_DIR) --model-root $(TEST_MODEL_ROOT) \
	  --model buffalo_s --out eval/out/feedback-sim

eval-suite: install ## the evaluation suite on LFW, buffalo_s (GROUPS=labels.csv, SUITE_ARGS=...)
	$(PY) -m likeness_eval suite --data-dir $(LFW_DIR) --model buffalo_s \
	  --model-root $(TEST_MODEL_ROOT) --out eval/out/suite $(if $(GROUPS),--groups $(GROUPS)) \
	  $(SUITE_ARGS)

finetune-lowres: install install-train ## fine-tune on LFW folds 1-5 for low-res faces, gate on 6-10 (buffalo_s)
	$(PY) -m likeness_eval.finetune_lowres --lfw-dir $(LFW_DIR) --model-root $(TEST_MODEL_ROOT) \
	  --model buffalo_s --epochs 4 --out eval/out/finetune-lowres

bench-eval: install ## stock insightface loop vs our eval path vs raw ONNX (buffalo_s, 1000 LFW images)
	$(PY) eval/benchmarks/bench_throughput.py --model-root $(TEST_MODEL_ROOT) --lfw-dir $(LFW_DIR)

models: install ## download a model pack through insightface (needs internet)
	$(PY) -m likeness.cli models fetch --pack $(MODEL) --root $(MODEL_ROOT)

up: ## build and start backend + web (nginx) with Docker Compose on :8080 (models in ./models)
	docker compose up --build

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache backend/.pytest_cache frontend/node_modules frontend/dist
