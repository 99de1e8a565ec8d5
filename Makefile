# Set-up and entry points. `make demo` and `make test` install everything
# they need into .venv on first use; later runs reuse it.
#
# Only `make setup` and `make demo` (through `setup`) link this checkout into
# the user's FiftyOne plugins directory (`autolabel install-plugin`). `make
# test` and the benchmarks never touch it: the tests and benchmarks link the
# plugin into a private plugins directory of their own (tests/conftest.py), so
# a test run from a temporary clone leaves no dangling link behind.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export FIFTYONE_DO_NOT_TRACK := true
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := False

.PHONY: setup demo test lint bench bench-panel js check-js system labelstudio clean-venv

# the Label Studio server the tests start (tests/test_loop_annotation.py),
# in a virtualenv of its own: its Django stack stays out of the project's
LS_VENV := .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# installs the venv and links this checkout into the user's plugins directory
setup: $(STAMP)
	$(BIN)/autolabel install-plugin

demo: setup
	$(BIN)/python -m autolabel.demo

# CI: the linter, the committed panel bundle must match its sources; the
# browser tests need Debian's Chromium, the video tests its ffmpeg
test: $(STAMP) lint check-js system labelstudio
	$(BIN)/python -m pytest -q

labelstudio: $(LS_STAMP)

$(LS_STAMP):
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install --quiet --disable-pip-version-check -c tests/labelstudio-constraints.txt "label-studio==1.23.2"
	touch $(LS_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

js:
	cd panel/js && npm ci --no-audit --no-fund --loglevel=error && npm run build

check-js:
	cd panel/js && npm ci --no-audit --no-fund --loglevel=error && npm run check-dist

system:
	bash tests/install_system.sh

bench: $(STAMP)
	$(BIN)/python bench/review.py

bench-panel: $(STAMP)
	$(BIN)/python bench/panel.py

clean-venv:
	rm -rf $(VENV) $(LS_VENV)
