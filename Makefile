# The README's commands. `make test` is the one CI runs (.ci/run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test lint docs test-sanitize test-scalar bench quality clean

# The demo: install the package into .venv, fuse the bundled sample faces, write the results to fusionkit-demo/.
demo: $(VENV)/.installed
	$(PY) -m fusionkit.demo --out fusionkit-demo

$(VENV)/.installed: pyproject.toml setup.py $(wildcard csrc/*.c csrc/*.h csrc/*.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml setup.py $(wildcard csrc/*.c csrc/*.h csrc/*.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install -e ".[test]"
	touch $@ $(VENV)/.installed

# Install the package with its test dependencies into .venv, check style and types, run the tests.
test: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q

lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m mypy

# The documentation site (docs/*.md, mkdocs.yml, the API reference from the docstrings) into build/site; any
# warning (a broken link, a page left out of the navigation) fails it. docs/errors.md is regenerated first.
docs: $(VENV)/.installed
	$(PIP) install -e ".[docs]"
	$(PY) tools/gen_error_docs.py
	$(PY) -m mkdocs build --strict

# The C core built with AddressSanitizer and UndefinedBehaviorSanitizer, running the core tests.
test-sanitize: $(VENV)/.installed-test
	rm -rf build/sanitize && mkdir -p build/sanitize
	cp -r src/fusionkit build/sanitize/fusionkit
	rm -f build/sanitize/fusionkit/_core*.so
	FUSIONKIT_SANITIZE=1 $(PY) csrc/build_core.py build/sanitize
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	PYTHONPATH=build/sanitize FUSIONKIT_EXPECT_CORE=build/sanitize \
	$(PY) -m pytest -q -p no:cacheprovider tests/core

# The C core built without its SIMD kernels (FUSIONKIT_NO_SIMD=1), running the core tests on the scalar paths.
test-scalar: $(VENV)/.installed-test
	rm -rf build/scalar && mkdir -p build/scalar
	cp -r src/fusionkit build/scalar/fusionkit
	rm -f build/scalar/fusionkit/_core*.so
	FUSIONKIT_NO_SIMD=1 $(PY) csrc/build_core.py build/scalar
	PYTHONPATH=build/scalar FUSIONKIT_EXPECT_CORE=build/scalar $(PY) -m pytest -q -p no:cacheprovider tests/core

bench: $(VENV)/.installed-test
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_vision.py
	$(PY) benchmarks/bench_fuse.py
	$(PY) benchmarks/bench_studio.py
	$(PY) benchmarks/bench_video.py

# Fusion quality against the OpenCV baseline, judged by dlib's face recognition network (the eval extra).
quality: $(VENV)/.installed-test
	$(PIP) install -e ".[eval]"
	$(PY) benchmarks/quality.py

clean:
	rm -rf build dist src/*.egg-info src/fusionkit/_core*.so src/fusionkit/_core.c
