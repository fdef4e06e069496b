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

test: $(VENV)/.installed-test
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Chromium and its driver from Debian's packages, for the web playground's browser test.
browser:
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium chromium-driver

# A JDK, JUnit 4 and ICU4J from Debian's packages, for the Android sample's plain-Java test.
jvm:
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends openjdk-17-jdk-headless junit4 libicu4j-java

# The Noto Color Emoji font from Debian's packages, for `keras-dalle data emoji` (the built-in real pictures).
emoji-font:
	$(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get install -y --no-install-recommends fonts-noto-color-emoji || { apt-get update && apt-get install -y --no-install-recommends fonts-noto-color-emoji; }'

clean:
	rm -rf $(VENV) demo_out .pytest_cache
