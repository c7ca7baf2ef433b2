# approxmac — see README.md. Every target below `setup` runs inside .venv/.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := iverilog verilator qflow-tech-osu018 opensta dataset-fashion-mnist
# pytest-xdist workers; CI machines have 2 cores.
JOBS ?= auto
# make report: measured operations per gate-level run, and the operand streams.
REPORT_VECTORS ?= 2000
REPORT_STREAMS ?= cnn,uniform
# libraries of make report (arrays run on the first one only)
REPORT_LIBERTIES ?= osu018,sky130hd

# make accuracy / accuracy-full: SCHEDULER=tcp://HOST:PORT sends the tasks to a running dask
# cluster (default: an in-process LocalCluster, one worker process per core).
SCHEDULER ?=
ACCURACY_FLAGS = $(if $(SCHEDULER),--scheduler $(SCHEDULER))

.PHONY: setup test test-all test-fast verilog report bench errors accuracy accuracy-full report-full clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash .ci/apt-install $(APT_PACKAGES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train]'
	@touch $(STAMP)

# the default run (CI): everything but the tests marked slow
test: setup
	$(PY) -m pytest -n $(JOBS) -m "not slow" tests

test-all: setup
	$(PY) -m pytest -n $(JOBS) tests

test-fast: setup
	$(PY) -m pytest -n $(JOBS) -m "not cosim and not slow" tests

verilog: setup
	$(VENV)/bin/approxmac verilog mitch_mul --n 16 --w 6 --variant trunc --signed none -o build/verilog

errors: setup
	$(VENV)/bin/approxmac errors --n 16 --w 2..16 --variant trunc --json build/report/errors_trunc.json
	$(VENV)/bin/approxmac errors --n 16 --w 2..16 --variant unbiased --json build/report/errors_unbiased.json

report: setup
	$(VENV)/bin/approxmac report --vectors $(REPORT_VECTORS) --streams $(REPORT_STREAMS) --liberty $(REPORT_LIBERTIES)
	$(VENV)/bin/approxmac accuracy $(ACCURACY_FLAGS)

# the whole sweep: Mitch-w MACs at w = 2..8 on every library, posit<16,1> and <32,2> units too
report-full: setup
	$(VENV)/bin/approxmac report --set full --vectors $(REPORT_VECTORS) --streams $(REPORT_STREAMS) --liberty $(REPORT_LIBERTIES)

# The default grid (<= 30 min on 2 cores): the ResNet-20 on Fashion-MNIST, FP32 / bf16 / Mitch-w6
# (trunc, unbiased) on all 10 000 test images, the w sweep and the other units on the subset
# -> build/report/accuracy.{json,md}, accuracy_vs_w.png, accuracy_energy.png, build/traces/
accuracy: setup
	$(VENV)/bin/approxmac accuracy $(ACCURACY_FLAGS)

# every multiplier x both networks x the whole test set (the job a dask cluster is for)
accuracy-full: setup
	$(VENV)/bin/approxmac accuracy --model resnet20_fashion-mnist,mobilenetv2_fashion-mnist --mult all \
		--subset-mult none $(ACCURACY_FLAGS)

bench: setup
	$(VENV)/bin/approxmac bench

clean:
	rm -rf build sim_build .pytest_cache
