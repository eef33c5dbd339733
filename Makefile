# The two commands of the README. Both install what they need first (idempotent).
PY ?= python3
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE = 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test lint
install:
	$(PY) -m pip install -q -e ".[all]"

demo: install
	bash samples/demo.sh

test: install
	$(PY) -m pytest -q -p no:cacheprovider

lint:
	ruff check . && ruff format --check .
