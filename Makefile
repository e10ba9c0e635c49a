# make demo / make test / make lint / make bench — each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*))
EDITABLE := $(foreach p,$(PLUGINS),-e ./$(p))
DIST := $(VENV)-dist

.PHONY: install demo test test-fast test-dist lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(wildcard plugins/*/pyproject.toml) | $(BIN)/python
	$(BIN)/python -m pip install -q --config-settings editable_mode=compat -e '.[sandbox,dev]' $(EDITABLE)
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/mediatask run a1d image-upscaler --input samples/lighthouse.png -p scale=4 -o out/demo --sandbox

test: install lint docs
	$(BIN)/python -m pytest -q -p no:cacheprovider
	$(MAKE) test-dist

# The inner loop: everything but the tests marked slow.
test-fast: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

# One more pass against a non-editable install: catches missing entry points, package data,
# py.typed. The slow end-to-end tests ran once already in `make test`; here the fast ones suffice.
test-dist:
	rm -rf $(DIST)
	$(PYTHON) -m venv $(DIST)
	$(DIST)/bin/python -m pip install -q --upgrade pip
	$(DIST)/bin/python -m pip install -q '.[sandbox,dev]' $(foreach p,$(PLUGINS),./$(p))
	rm -rf build $(foreach p,$(PLUGINS),$(p)/build)
	$(DIST)/bin/python -m pytest -q -p no:cacheprovider -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core/mediatask tests
	set -e; for p in $(PLUGINS); do $(BIN)/mypy $$p; done

# The documentation site with its generated API reference, into out/site; --strict (mkdocs.yml):
# a broken link or an unknown reference fails it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# BENCH_SCALE=small for a quick try; BENCH_ONLY=a1d,claid,many,download,startup for some.
$(VENV)/.bench-installed: pyproject.toml | $(VENV)/.installed
	$(BIN)/python -m pip install -q --config-settings editable_mode=compat -e '.[bench]'
	touch $@

bench: install $(VENV)/.bench-installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(DIST) build out .mypy_cache .ruff_cache .pytest_cache
