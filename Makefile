# Two commands do everything: `make demo` and `make test`. Each installs what it needs first.
PYTHON ?= python3
export PYTHON
OUTPUT ?= output/demo

.PHONY: install demo demo-long test test-fast test-oldest test-python test-torch-free bench clean

install:
	@bash scripts/install.sh

demo: install
	$(PYTHON) -m tubes_cli.demo --output $(OUTPUT)

# The same job with about an hour of training on 2 cores.
demo-long: install
	$(PYTHON) -m tubes_cli.demo --schedule long --output output/demo_long

test: install
	$(PYTHON) -m pytest tests

test-fast: install
	$(PYTHON) -m pytest tests -m "not slow"

# The fast suite on the oldest supported stack (Python 3.11, numpy 1.26, OpenCV 4.9), in a
# virtual environment of its own kept in output/venv-oldest.
test-oldest:
	@bash scripts/test_oldest.sh

# A fresh virtual environment of another Python, installed and tested: make test-python PY=3.13
PY ?= 3.13
test-python:
	@bash scripts/test_python.sh $(PY)

# The torch-free evaluator's tests in a virtual environment without torch or Detectron2.
test-torch-free:
	@bash scripts/test_torch_free.sh

clean:
	rm -rf output .pytest_cache build *.egg-info
