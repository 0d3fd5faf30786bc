# `make dev` and `make test` install everything they need into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/setup.cfg)
TEST_PLUGINS := $(wildcard tests/plugins/*/setup.cfg)
EXAMPLES := $(wildcard examples/*/setup.cfg)
PIP_FLAGS ?= --quiet --disable-pip-version-check
comma := ,
empty :=
space := $(empty) $(empty)
#: entry-point names of the built-in plugins (the directory names under plugins/)
BUILTIN_PLUGINS := $(subst $(space),$(comma),$(notdir $(patsubst %/setup.cfg,%,$(PLUGINS))))

.PHONY: install dev test unit integration bench bench-api bench-dispatch bench-drain bench-gpu bench-engines settings-table clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml $(PLUGINS) $(TEST_PLUGINS) $(EXAMPLES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip setuptools wheel
	$(PY) -m pip install $(PIP_FLAGS) -e '.[test,dev]' $(foreach p,$(PLUGINS),-e '$(dir $(p))[engines]') $(foreach p,$(TEST_PLUGINS),-e '$(dir $(p))') $(foreach p,$(EXAMPLES),-e '$(dir $(p))[test]')
	touch $(STAMP)

dev: $(STAMP)
	$(VENV)/bin/c3-render dev

test: $(STAMP)
	PYTHON=$(PY) bash deploy/tools/ensure-tools.sh
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

# The performance table (API, dispatch, drain, GPU cost) beside the replaced service; ~25 min.
bench: $(STAMP)
	$(PY) bench/report.py

bench-api: $(STAMP)
	$(PY) bench/bench_api.py

bench-dispatch: $(STAMP)
	$(PY) bench/bench_dispatch.py

bench-drain: $(STAMP)
	$(PY) bench/bench_drain.py

bench-gpu: $(STAMP)
	$(PY) bench/bench_gpu_cost.py

# The local engines of the plugins (TTS, STT, portrait, analysis).
bench-engines: $(STAMP)
	for f in bench/bench_tts.py bench/bench_stt.py bench/bench_portrait.py bench/bench_analyze.py; do $(PY) $$f || exit 1; done

# The README's configuration table, from the declarations of the core and the built-in plugins.
settings-table: $(STAMP)
	C3_RENDER_PLUGINS=$(BUILTIN_PLUGINS) $(VENV)/bin/c3-render settings --update README.md

clean:
	rm -rf $(VENV) .c3-render .pytest_cache
