# sre.runbooks — entry points. `make demo` and `make test` are the two set-up
# commands for a fresh machine: each runs `make setup` first, which installs
# what is missing and reuses what is already there.
SHELL := /bin/bash
ENV := . scripts/env.sh &&

.PHONY: setup demo sandbox test sanity lint units integration molecule bench build ee-context constraints clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	@$(ENV) python -m tests.sandbox.drill

# The Kubernetes API simulator in the foreground, for people: prints the kubeconfig to export.
sandbox: setup
	@$(ENV) python -m tests.sandbox.kubesim serve --kubeconfig "$$SRE_RUNBOOKS_HOME/kubesim/kubeconfig"

test: setup
	@$(ENV) bash scripts/test.sh sanity lint changelog units integration molecule

sanity: setup
	@$(ENV) bash scripts/test.sh sanity

lint: setup
	@$(ENV) bash scripts/test.sh lint changelog

units: setup
	@$(ENV) bash scripts/test.sh units

integration: setup
	@$(ENV) bash scripts/test.sh integration

molecule: setup
	@$(ENV) bash scripts/test.sh molecule

bench: setup
	@$(ENV) python -m tests.bench

build: setup
	@$(ENV) ansible-galaxy collection build --force --output-path . .

# Build context for the AWX execution environment (no container engine needed);
# `podman build context/` or `docker build context/` builds the image from it.
ee-context: build
	@$(ENV) ansible-builder create -f meta/execution-environment.yml --context context

constraints: setup
	@$(ENV) { sed -n '1,2p' tests/constraints.txt; pip freeze --exclude-editable; } > tests/constraints.txt.new && mv tests/constraints.txt.new tests/constraints.txt

clean:
	rm -rf .cache .ansible .pytest_cache tests/output evidence bench/results context
