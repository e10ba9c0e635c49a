# make demo / make test / make lint / make bench — each creates .venv on first use.
# make wheels — dist/: a wheel of the core and of each launch provider, for pipx / uv tool / pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*))
EDITABLE := $(foreach p,$(PLUGINS),-e ./$(p))
DIST := $(VENV)-dist
# The providers a user installs (echo is the reference plugin the tests use).
LAUNCH := plugins/a1d plugins/claid plugins/a2e
# pip quiet enough that only errors show: `make demo` prints what a user needs, not build noise.
PIP_QUIET := -qq

.PHONY: install demo wheels test-wheels test test-fast test-dist lint docs bench clean

$(BIN)/python:
	@echo "creating $(VENV): the core, every plugin and the dev tools (about a minute, once)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip

# Editable installs with a plain path entry each (the plugins' package-dir), which mypy follows.
$(VENV)/.installed: pyproject.toml $(wildcard plugins/*/pyproject.toml) | $(BIN)/python
	@$(BIN)/python -m pip install $(PIP_QUIET) -e '.[sandbox,dev]' $(EDITABLE)
	@touch $@

install: $(VENV)/.installed

demo: install
	@$(BIN)/mediatask run a1d image-upscaler --input samples/lighthouse.png -p scale=4 -o out/demo --sandbox
	@echo "next: . $(BIN)/activate, then mediatask --help (README.md: Use it)"

# `pipx install --pip-args=--find-links=dist 'mediatask[launch,sandbox]'` installs from here.
wheels:
	rm -rf dist
	$(PYTHON) -m pip wheel $(PIP_QUIET) --no-deps -w dist . $(LAUNCH)
	rm -rf build $(foreach p,$(LAUNCH),$(p)/build)
	@ls dist

# The README's install line, from the built wheels into fresh environments: pipx's, and plain
# pip's without extras (the lean install for embedding). Each then lists providers and runs a job.
WHEELS_TRY := $(VENV)-wheels
test-wheels: wheels
	rm -rf $(WHEELS_TRY)
	$(PYTHON) -m venv $(WHEELS_TRY)/pipx
	$(WHEELS_TRY)/pipx/bin/python -m pip install $(PIP_QUIET) pipx
	PIPX_HOME=$(WHEELS_TRY)/home PIPX_BIN_DIR=$(WHEELS_TRY)/bin $(WHEELS_TRY)/pipx/bin/pipx install \
	  --pip-args=--find-links=dist 'mediatask[launch,sandbox]'
	MEDIATASK_HOME=$(WHEELS_TRY)/user $(WHEELS_TRY)/bin/mediatask providers
	MEDIATASK_HOME=$(WHEELS_TRY)/user $(WHEELS_TRY)/bin/mediatask run a1d image-upscaler \
	  --input samples/lighthouse.png -p scale=2 -o $(WHEELS_TRY)/out --sandbox
	$(PYTHON) -m venv $(WHEELS_TRY)/lean
	$(WHEELS_TRY)/lean/bin/python -m pip install $(PIP_QUIET) --find-links=dist mediatask mediatask-claid
	$(WHEELS_TRY)/lean/bin/python -c 'import mediatask; print(sorted(mediatask.PluginManager.from_entry_points().providers))'
	rm -rf $(WHEELS_TRY)

test: install lint docs
	MEDIATASK_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -q -p no:cacheprovider
	$(MAKE) test-versions

# The inner loop: everything but the tests marked slow; without PostgreSQL, its tests skip.
test-fast: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

# The Python versions we support (pyproject's classifiers and the README name the same): `make
# test` runs every test on $(PYTHON) and the fast ones on each other; CI=1 (.ci/run) requires all.
PYTHONS := 3.11 3.12 3.13

.PHONY: test-versions clean-versions
clean: clean-versions
clean-versions:
	rm -rf $(VENV)-3.*

# The fast tests on each other supported version (`make test-py3.13` for one), each against a
# non-editable install: that also catches missing entry points, package data, py.typed. A version
# not found is named at the end (an error under CI); with none found, `test-dist` does that check.
test-versions: install
	@main=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	tested=$$main; missing=; \
	for v in $(PYTHONS); do \
	    if [ $$v = $$main ]; then continue; fi; \
	    if .ci/find-python $$v >/dev/null 2>&1; then $(MAKE) test-py$$v || exit 1; tested="$$tested $$v"; \
	    else missing="$$missing $$v"; fi; \
	done; \
	if [ "$$tested" = "$$main" ]; then $(MAKE) test-dist || exit 1; fi; \
	for v in $$missing; do .ci/find-python $$v || true; done; \
	if [ -n "$$missing" ]; then \
	    echo "NOT TESTED on Python$$missing (tested on $$tested; supported: $(PYTHONS))"; \
	    if [ -n "$(CI)" ]; then exit 1; fi; \
	fi

# One venv per version (.venv-3.13), its packages reinstalled from this tree on each run.
test-py%:
	$(call fast-suite-installed,$$(.ci/find-python $*),$(VENV)-$*)

# The same check on $(PYTHON) itself.
test-dist:
	$(call fast-suite-installed,$(PYTHON),$(DIST))

# $(1): the interpreter, $(2): the venv. The slow end-to-end tests ran once already in `make test`.
define fast-suite-installed
	test -x $(2)/bin/python || $(1) -m venv $(2)
	$(2)/bin/python -m pip install $(PIP_QUIET) --upgrade pip
	$(2)/bin/python -m pip install $(PIP_QUIET) '.[sandbox,dev]' $(foreach p,$(PLUGINS),./$(p))
	rm -rf build $(foreach p,$(PLUGINS),$(p)/build)
	MEDIATASK_REQUIRE_POSTGRES=1 $(2)/bin/python -m pytest -q -p no:cacheprovider -m "not slow"
endef

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
	@$(BIN)/python -m pip install $(PIP_QUIET) -e '.[bench]'
	@touch $@

bench: install $(VENV)/.bench-installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(DIST) $(VENV)-wheels dist build out .mypy_cache .ruff_cache .pytest_cache
