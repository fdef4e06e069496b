# Two commands for a new user: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo test browser jvm emoji-font clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

# make test needs the exports and the serving API too (the extras "export" and "serving").
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# `make install EXTRAS=export,serving` adds the extras (exports, the serving API) to .venv.
install: $(VENV)/.installed
	$(if $(EXTRAS),$(PY) -m pip install --quiet -e '.[$(EXTRAS)]')

demo: $(VENV)/.installed
	$(VENV)/bin/keras-dalle demo --out demo_out

# Two worker processes, each taking whole files (module fixtures are made once): on 2 cores the
# tiny models' tracing and Python time overlap. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS)

# Debian packages (as root, or through sudo); the package lists are refreshed only when an install fails.
apt_install = $(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get install -y --no-install-recommends $(1) || { apt-get update && apt-get install -y --no-install-recommends $(1); }'

# Chromium and its driver, for the web playground's browser test.
browser:
	$(call apt_install,chromium chromium-driver)

# A JDK, JUnit 4 and ICU4J, for the Android sample's plain-Java test.
jvm:
	$(call apt_install,openjdk-17-jdk-headless junit4 libicu4j-java)

# The Noto Color Emoji font, for `keras-dalle data emoji` (the built-in real pictures).
emoji-font:
	$(call apt_install,fonts-noto-color-emoji)

clean:
	rm -rf $(VENV) demo_out .pytest_cache
