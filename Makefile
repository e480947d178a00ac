# The README's commands. `make test` is the one CI runs (.ci/run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test lint docs test-sanitize test-scalar bench quality chaos clean

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

# Install the package with its test dependencies into .venv, check style and types, run the tests: on two processes,
# a test file each at a time (5 min 5 s on one, 3 min 12 s on two, on a 2-core machine).
test: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -n 2 --dist loadfile

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
	$(PY) benchmarks/bench_targets.py
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_vision.py
	$(PY) benchmarks/bench_fuse.py
	$(PY) benchmarks/bench_threads.py
	$(PY) benchmarks/bench_studio.py
	$(PY) benchmarks/bench_video.py

# Fault injection at length: every storage call of each studio operation failed with every kind of failure
# (FUSIONKIT_FAULTS=full), and FUSIONKIT_KILL_ITERATIONS (default 150) studios killed with SIGKILL at random points
# (FUSIONKIT_KILL_SEED picks them; a failure names its seed for tools/kill_loop.py --seed S --only I).
FUSIONKIT_KILL_ITERATIONS ?= 150
chaos: $(VENV)/.installed-test
	FUSIONKIT_FAULTS=full FUSIONKIT_KILL_ITERATIONS=$(FUSIONKIT_KILL_ITERATIONS) \
	$(PY) -m pytest -q -p no:cacheprovider -rxX tests/faults

# Fusion quality against the OpenCV baseline, judged by dlib's face recognition network (the eval extra).
quality: $(VENV)/.installed-test
	$(PIP) install -e ".[eval]"
	$(PY) benchmarks/quality.py

# Fuzzing (fuzz/README.md): atheris targets over image decoding, video probing, the C core and stored documents.
# `make fuzz` runs each target for FUZZ_SECONDS (default 300) on the normal build, collecting every distinct finding
# under build/fuzz/findings/<target>/ (the run goes on after one), then replays the C core's corpus against the
# ASan/UBSan build (build/fuzz-sanitize); it fails when anything was found. `make -j2 fuzz` runs two targets at once.
# atheris cannot fuzz with coverage under a preloaded GCC libasan (its coverage hooks resolve to libasan's stubs),
# hence fuzzing on the normal build and replaying under the sanitizers. `make fuzz-short`: 15 s a target.
FUZZ_TARGETS := decode video core domain
FUZZ_SECONDS ?= 300
FUZZ_ARGS ?=
FUZZ_SANITIZE_ENV = LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	PYTHONPATH=build/fuzz-sanitize FUSIONKIT_EXPECT_CORE=build/fuzz-sanitize

.PHONY: fuzz fuzz-short fuzz-corpus fuzz-sanitize-build fuzz-sanitize-replay fuzz-core-asan \
	$(FUZZ_TARGETS:%=fuzz-run-%)

$(VENV)/.installed-fuzz: pyproject.toml setup.py $(wildcard csrc/*.c csrc/*.h csrc/*.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e ".[fuzz]"
	touch $@ $(VENV)/.installed

fuzz-corpus: $(VENV)/.installed-fuzz
	$(PY) fuzz/make_corpus.py

$(FUZZ_TARGETS:%=fuzz-run-%): fuzz-run-%: fuzz-corpus
	mkdir -p build/fuzz/corpus/$* build/fuzz/artifacts/$*
	FUZZ_FINDINGS_DIR=build/fuzz/findings/$* $(PY) fuzz/fuzz_$*.py -max_total_time=$(FUZZ_SECONDS) \
		-print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$*/ $(FUZZ_ARGS) \
		build/fuzz/corpus/$* fuzz/corpus/$*

# The C core with AddressSanitizer and UndefinedBehaviorSanitizer, in a folder of its own (make test-sanitize's
# build/sanitize may be rebuilt by someone else meanwhile).
fuzz-sanitize-build: $(VENV)/.installed-fuzz
	rm -rf build/fuzz-sanitize && mkdir -p build/fuzz-sanitize
	cp -r src/fusionkit build/fuzz-sanitize/fusionkit
	rm -f build/fuzz-sanitize/fusionkit/_core*.so
	FUSIONKIT_SANITIZE=1 $(PY) csrc/build_core.py build/fuzz-sanitize

# Every C-core input found so far (the run's corpus, the seeds, the regressions) once through the sanitizer build.
fuzz-sanitize-replay: fuzz-sanitize-build
	mkdir -p build/fuzz/corpus/core
	$(FUZZ_SANITIZE_ENV) $(PY) fuzz/replay.py core build/fuzz/corpus/core fuzz/corpus/core fuzz/regressions/core

# The C-core target mutating under the sanitizers for FUZZ_SECONDS (no coverage feedback there: see above).
fuzz-core-asan: fuzz-sanitize-build fuzz-corpus
	mkdir -p build/fuzz/corpus-asan/core build/fuzz/artifacts/core-asan
	$(FUZZ_SANITIZE_ENV) $(PY) fuzz/fuzz_core.py -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=build/fuzz/artifacts/core-asan/ $(FUZZ_ARGS) build/fuzz/corpus-asan/core fuzz/corpus/core

fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)
	$(MAKE) fuzz-sanitize-replay
	@if ls build/fuzz/findings/*/*.txt >/dev/null 2>&1; then \
		echo "fuzz: findings (inputs and tracebacks) in:"; ls build/fuzz/findings/*/*.txt; exit 1; fi

# A smoke run: 15 s a target on the seeds, stopping at the first finding not in fuzz/_harness.py's known list.
fuzz-short: fuzz-corpus
	set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-short/$$t build/fuzz/artifacts/$$t; \
		$(PY) fuzz/fuzz_$$t.py -max_total_time=15 -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$$t/ \
			$(FUZZ_ARGS) build/fuzz/corpus-short/$$t fuzz/corpus/$$t; \
	done

clean:
	rm -rf build dist src/*.egg-info src/fusionkit/_core*.so src/fusionkit/_core.c
