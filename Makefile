# make demo: run notebooks/quickstart.ipynb for real in a Jupyter kernel and print its results.
# make test: run the whole test suite.
# make lint: ruff check, ruff format --check, and mypy over hpmagic/ (configured in pyproject.toml).
# make browser-deps: install Debian's Chromium for the browser tests (tests/browser), if it is missing (root only).
# All of them use one virtual environment, .venv, created and filled on first use.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test
DEMO_DIR := build/demo

# In a venv, look for kernel specs in the venv before the user's folders, so "python3" is the venv's ipykernel.
export JUPYTER_PREFER_ENV_PATH := 1

.PHONY: demo test lint venv clean browser-deps bench-dashboard
.PHONY: bench-mf bench-noise bench-parallel fuzz bench-importance bench-constraints
.PHONY: bench bench-quick bench-overhead

venv: $(STAMP)

$(VPY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "hpmagic needs Python 3.11 or newer: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Installed again whenever pyproject.toml changes (new dependencies or extras).
$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install -e ".[test]"
	@$(VPY) -c 'import os, sys; from jupyter_client.manager import KernelManager; \
		cmd = KernelManager(kernel_name="python3").format_kernel_cmd(); \
		ok = os.path.realpath(cmd[0]) == os.path.realpath(sys.executable); \
		print("kernel python3 runs", cmd[0]); sys.exit(0 if ok else "the python3 kernel is not this venv'"'"'s")'
	touch $@

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	OMP_NUM_THREADS=1 $(VPY) notebooks/run_notebook.py notebooks/quickstart.ipynb \
		--cwd $(DEMO_DIR) --output $(DEMO_DIR)/quickstart.ipynb

test: $(STAMP) browser-deps
	OMP_NUM_THREADS=1 $(VPY) -m pytest

# Playwright drives the system's Chromium: its own browser download is not reachable from these machines.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" != 0 ]; then echo "no Chromium: the browser tests will skip (sudo apt-get install chromium)"; exit 0; fi; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			chromium fonts-liberation; }
	@chromium --version 2>/dev/null || true

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench-dashboard: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) benchmarks/dashboard_overhead.py

# make bench-importance: fANOVA and PED-ANOVA on synthetic functions with known important parameters (about a
# minute): which ranks them right more often (benchmarks/importance.py; the table is in RESULTS.md).
bench-importance: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) -m benchmarks.importance

# make bench-constraints: random, bayes and evolution on constrained problems (Branin in a disk and in a band, a
# decision tree's size on digits; 5 seeds x 40 trials, a few minutes): the fraction of infeasible trials and the best
# feasible value (benchmarks/constraints.py; the section is written into RESULTS.md).
bench-constraints: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) -m benchmarks.constraints

clean:
	rm -rf $(DEMO_DIR) $(STAMP)

# make bench / bench-quick / bench-overhead: compare hpmagic's strategies with Optuna, scikit-optimize, Hyperopt and
# random search (benchmarks/README.md). The peers live in their own environment, .venv-bench, never in hpmagic's.
# BENCH_EXTRA (torch, for Optuna's GPSampler) may fail to install or be emptied: the GP sampler is then skipped.
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_EXTRA ?= torch greenlet

$(BENCH_PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "hpmagic needs Python 3.11 or newer: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(BENCH_VENV)

$(BENCH_STAMP): pyproject.toml benchmarks/requirements.txt | $(BENCH_PY)
	$(BENCH_PY) -m pip install -e . -r benchmarks/requirements.txt
	@if [ -n "$(BENCH_EXTRA)" ]; then $(BENCH_PY) -m pip install $(BENCH_EXTRA) || \
		echo "$(BENCH_EXTRA) did not install: Optuna's GPSampler will be skipped"; fi
	touch $@

bench: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 $(BENCH_PY) -m benchmarks.run

bench-quick: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 $(BENCH_PY) -m benchmarks.run --quick

bench-overhead: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 $(BENCH_PY) -m benchmarks.overhead

# make bench-mf: Hyperband and ASHA against full-budget random search, PBT against fixed hyperparameters, and
# samplers under schedulers (bayes + hyperband, i.e. BOHB, against random + hyperband: epochs to the target accuracy)
# (benchmarks/multifidelity.py: 10 seeds on digits, markdown tables; about 4 minutes on 2 cores); then anytime
# regret against cumulative epochs on problems whose cheap fidelities mislead, with Optuna's TPE + Hyperband pruner
# as the peer (benchmarks/mf_regret.py in .venv-bench: 5 seeds, plots and a RESULTS.md section; about 10 minutes).
# make bench-mf-quick: the regret part only, 3 seeds, printed (nothing written).
.PHONY: bench-mf-quick
bench-mf: $(STAMP) $(BENCH_STAMP)
	OMP_NUM_THREADS=1 $(VPY) benchmarks/multifidelity.py
	OMP_NUM_THREADS=1 $(BENCH_PY) -m benchmarks.mf_regret

bench-mf-quick: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 $(BENCH_PY) -m benchmarks.mf_regret --quick

# make bench-mo: multi-objective search, hypervolume after 40 and 100 evaluations on ZDT1, ZDT2, DTLZ2 and a
# scikit-learn trade-off (tree error against size), hpmagic random / evolution (NSGA-II) / bayes (default, ParEGO
# and EHVI) against Optuna's NSGAIISampler and multi-objective TPESampler, 5 seeds (benchmarks/mo_hypervolume.py;
# a RESULTS.md section).
.PHONY: bench-mo
bench-mo: $(BENCH_STAMP)
	OMP_NUM_THREADS=1 $(BENCH_PY) -m benchmarks.mo_hypervolume --seeds 5 --budgets 40 100

# make bench-noise: repeats + the noise-aware GP against single noisy evaluations, and coarse-to-fine --refine
# (benchmarks/noise_refine.py, markdown tables).
bench-noise: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) -m benchmarks.noise_refine

# make labextension: rebuild the JupyterLab extension (labextension/ -> hpmagic/labextension/) after editing its
# TypeScript, and point the venv's copy at the build (pip install copies it once; this keeps it current).
.PHONY: labextension bench-lab
labextension: $(STAMP)
	cd labextension && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npm install --no-audit --no-fund && \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npm run build:prod
	rm -rf $(VENV)/share/jupyter/labextensions/hpmagic
	ln -s "$(CURDIR)/hpmagic/labextension" $(VENV)/share/jupyter/labextensions/hpmagic

# make bench-lab: the extension's server routes on a store of 100 studies x 1,000 trials, and the Studies panel's
# refresh cost in a real JupyterLab (benchmarks/lab_api.py).
bench-lab: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) benchmarks/lab_api.py

# make bench-parallel: --jobs 2 against one trial at a time on CPU-bound trials, the Dask path's overhead per trial,
# and bayes's regret with 1, 2 and 4 trials in flight (benchmarks/parallel.py). Run it on a quiet machine.
bench-parallel: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) -m benchmarks.parallel

# make fuzz: a longer campaign of generated bad inputs (what trials return/print/raise, bad optimize options, bad
# cells), minutes; prints a table of outcomes (tests/reliability/fuzz.py). The quick versions run in make test.
fuzz: $(STAMP)
	OMP_NUM_THREADS=1 $(VPY) -m tests.reliability.fuzz --cases 300
