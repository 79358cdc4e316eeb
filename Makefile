# The two set-up commands of the README:
#   make demo   installs everything and runs the bundled scenario on the embedded models
#   make test   installs the test dependencies and runs the test suite
SCENARIO ?= scenarios/social_media/quick.yaml
export CMAKE_ARGS := -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE := 1

.PHONY: demo test install install-dev lint bench

install:
	scripts/install.sh local

install-dev:
	scripts/install.sh local,dev,ray

demo: install
	.venv/bin/socium run $(SCENARIO)

test: install-dev
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/python -m pytest -q

lint:
	.venv/bin/ruff check . && .venv/bin/mypy

bench:
	.venv/bin/python benchmarks/model_throughput.py
	.venv/bin/python benchmarks/memory.py
