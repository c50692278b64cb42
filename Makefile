# Two commands do everything: `make demo` and `make test`. Each installs what it needs first.
PYTHON ?= python3
export PYTHON
OUTPUT ?= output/demo

.PHONY: install demo demo-long test test-fast test-numpy2 bench clean

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

# The torch-free evaluator's tests under numpy 2, in a virtual environment of their own.
test-numpy2:
	@bash scripts/test_numpy2.sh

clean:
	rm -rf output .pytest_cache build *.egg-info
