# nodeprep.netfilter: build, test and audit entry points.
# `make test` runs every tier (CI calls it); `make audit` audits localhost (or INVENTORY=...).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

ROOT := $(CURDIR)
BUILD := $(ROOT)/build

# Real interpreters, not pyenv shims: ansible-test drops PYENV_VERSION, under which the shims exit 127.
PY311 ?= $(shell python3.11 -c 'import sys; print(sys.executable)' 2>/dev/null)
PY312 ?= $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || ls -1 $(HOME)/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)

VENV := $(ROOT)/.venv
VENV312 := $(ROOT)/.venv-py312

# The collection must sit at ansible_collections/nodeprep/netfilter. For ansible and pytest a symlink to the
# checkout is enough; ansible-test resolves its working directory, so it gets a synced copy instead. That copy lives
# outside the checkout: inside it, ansible-test would ask git for the file list and find the copy ignored.
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/nodeprep/netfilter
ANSIBLE_TEST_ROOT ?= $(HOME)/.cache/nodeprep.netfilter/ansible-test-$(shell printf %s "$(ROOT)" | md5sum | cut -c1-8)
ANSIBLE_TEST_COLLECTION := $(ANSIBLE_TEST_ROOT)/ansible_collections/nodeprep/netfilter

# ansible.posix and community.general (and containers.podman, for the container scenario) come from the pip `ansible` wheel, because Galaxy is unreachable here.
ANSIBLE_BUNDLE_VERSION := 12.3.0
DEPENDENCY_COLLECTIONS := ansible.posix community.general containers.podman
DEPS_STAMP := $(COLLECTIONS)/.deps-$(ANSIBLE_BUNDLE_VERSION)-$(subst $(eval) ,+,$(DEPENDENCY_COLLECTIONS))

DEFAULT_INVENTORY := $(ROOT)/playbooks/inventory/localhost.yml
INVENTORY ?= $(DEFAULT_INVENTORY)
# The audit escalates with become; root auditing this machine needs none (and such a machine may lack sudo).
AUDIT_BECOME_ARGS := $(if $(and $(filter $(DEFAULT_INVENTORY),$(INVENTORY)),$(filter 0,$(shell id -u))),-e audit_become=false)
FAIL_ON ?= high

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_NOCOWS := 1
export ANSIBLE_RETRY_FILES_ENABLED := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help
help:
	@echo "make audit      audit localhost (INVENTORY=path for other hosts); exits non-zero when a host is not ready"
	@echo "make test       every test tier: units, sanity, lint, integration, VM tier (what CI runs)"
	@echo "make test-fast  every tier but the VM tier, in two lanes at once (make test-fast-serial: one by one)"
	@echo "make units | sanity | lint | integration | integration-dockerd | test-playbooks | test-browser | test-ee | test-vm | bench | bench-facts"

# ---------------------------------------------------------------- toolchain

$(VENV)/.installed: requirements/tools-py311.txt requirements/constraints-py311.txt
	@test -n "$(PY311)" || { echo "python3.11 not found" >&2; exit 1; }
	rm -rf $(VENV)
	$(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements/tools-py311.txt -c requirements/constraints-py311.txt
	touch $@

$(VENV312)/.installed: requirements/tools-py312.txt requirements/constraints-py312.txt
	@test -n "$(PY312)" || { echo "python3.12 not found: the ansible-core 2.21 leg needs it" >&2; exit 1; }
	rm -rf $(VENV312)
	$(PY312) -m venv $(VENV312)
	$(VENV312)/bin/pip install --quiet -r requirements/tools-py312.txt -c requirements/constraints-py312.txt
	touch $@

$(DEPS_STAMP): tests/tools/extract_collections.py | $(VENV)/.installed
	mkdir -p $(BUILD)/wheels $(COLLECTIONS)/ansible_collections
	$(VENV)/bin/pip download --quiet --no-deps --dest $(BUILD)/wheels ansible==$(ANSIBLE_BUNDLE_VERSION)
	$(VENV)/bin/python tests/tools/extract_collections.py \
	  $(BUILD)/wheels/ansible-$(ANSIBLE_BUNDLE_VERSION)-py3-none-any.whl $(COLLECTIONS) $(DEPENDENCY_COLLECTIONS)
	touch $@

# ansible-test downloads a get-pip script for every venv it makes; install an offline stand-in for each pip it asks for.
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache
.PHONY: ansible-test-offline
# Both this and collection-link write only when something differs: `make test-fast` runs two makes at once, whose
# `tools` would otherwise rewrite the same files side by side (install failed there with "File exists").
ansible-test-offline:
	mkdir -p $(ANSIBLE_TEST_CACHE)
	for pip_version in 24_2 25_2; do \
	  cmp -s tests/tools/get_pip_offline.py $(ANSIBLE_TEST_CACHE)/get_pip_$${pip_version}.py || \
	    install -m 0644 tests/tools/get_pip_offline.py $(ANSIBLE_TEST_CACHE)/get_pip_$${pip_version}.py; \
	done

.PHONY: collection-link
collection-link: $(DEPS_STAMP)
	mkdir -p $(dir $(COLLECTION_LINK))
	test "$$(readlink $(COLLECTION_LINK))" = "$(ROOT)" || ln -sfn $(ROOT) $(COLLECTION_LINK)

# A copy of what git would ship (tracked plus untracked-but-not-ignored files), for ansible-test.
.PHONY: ansible-test-tree
ansible-test-tree: $(DEPS_STAMP)
	rm -rf $(ANSIBLE_TEST_COLLECTION) && mkdir -p $(ANSIBLE_TEST_COLLECTION)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C $(ANSIBLE_TEST_COLLECTION)
	for dep in ansible community; do ln -sfn $(COLLECTIONS)/ansible_collections/$$dep $(ANSIBLE_TEST_ROOT)/ansible_collections/$$dep; done

# tests/tools/make-test-fast gives its second lane a copy of its own, next to this one.
.PHONY: print-ansible-test-root
print-ansible-test-root:
	@echo $(ANSIBLE_TEST_ROOT)

.PHONY: tools
tools: $(VENV)/.installed $(VENV312)/.installed $(DEPS_STAMP) collection-link ansible-test-offline

# ---------------------------------------------------------------- tests

.PHONY: test test-fast
# test-fast then test-vm, with the VM images prepared in the background meanwhile (see tests/tools/make-test).
test:
	bash tests/tools/make-test $(VM_SCENARIOS)
# Two lanes at once on the 2 cores (tests/tools/make-test-fast); `make test-fast-serial` runs the same targets one by one.
# Lane A holds every ansible-test run on Python 3.11 (they share one venv); lane B gets an ansible-test copy of its own.
FAST_LANE_A := sanity-py311 integration integration-dockerd test-playbooks
FAST_LANE_B := units-py311 units-py312 changelog-lint lint sanity-py312 test-browser test-ee
test-fast:
	bash tests/tools/make-test-fast "$(FAST_LANE_A)" "$(FAST_LANE_B)"
.PHONY: test-fast-serial
test-fast-serial: $(FAST_LANE_A) $(FAST_LANE_B)

# pytest exits 5 when it collects nothing; make treats that as the failure it is.
.PHONY: units
units: units-py311 units-py312
.PHONY: units-py311 units-py312
units-py311: tools
	cd $(COLLECTION_LINK) && PYTHONPATH=$(COLLECTIONS) $(VENV)/bin/python -m pytest -p no:cacheprovider tests/unit -q
units-py312: tools
	cd $(COLLECTION_LINK) && PYTHONPATH=$(COLLECTIONS) $(VENV312)/bin/python -m pytest -p no:cacheprovider tests/unit -q

.PHONY: sanity
sanity: sanity-py311 sanity-py312
.PHONY: sanity-py311 sanity-py312
sanity-py311: tools ansible-test-tree host-test-deps
	cd $(ANSIBLE_TEST_COLLECTION) && PATH=$(VENV)/bin:$$PATH $(VENV)/bin/ansible-test sanity --venv --python 3.11 --color no
sanity-py312: tools ansible-test-tree host-test-deps
	cd $(ANSIBLE_TEST_COLLECTION) && PATH=$(VENV312)/bin:$$PATH $(VENV312)/bin/ansible-test sanity --venv --python 3.12 --color no

.PHONY: lint
lint: tools
	$(VENV)/bin/yamllint --strict .
	$(VENV)/bin/ansible-lint --offline

.PHONY: changelog-lint
changelog-lint: tools
	$(VENV)/bin/antsibull-changelog lint

.PHONY: host-test-deps
host-test-deps:
	bash tests/tools/install-host-test-deps

.PHONY: integration
integration: tools ansible-test-tree host-test-deps
	cd $(ANSIBLE_TEST_COLLECTION) && PATH=$(VENV)/bin:$$PATH $(VENV)/bin/ansible-test integration --venv --python 3.11 --color no

# Real dockerd (Debian's docker.io, unpacked into a temporary directory, never installed) inside a network namespace.
.PHONY: integration-dockerd
integration-dockerd: tools ansible-test-tree host-test-deps
	cd $(ANSIBLE_TEST_COLLECTION) && PATH=$(VENV)/bin:$$PATH $(VENV)/bin/ansible-test integration docker_iptables_audit_dockerd \
	  --allow-destructive --venv --python 3.11 --color no

# The audit playbook as operators start it: a normal inventory (with become), implicit localhost, no host matched,
# an unprivileged run. Real ansible-playbook runs against this machine.
.PHONY: test-playbooks
test-playbooks: tools
	$(VENV)/bin/python -m pytest -p no:cacheprovider -q tests/playbooks

# The audit report on a mixed local fleet, opened in Debian's headless Chromium (artifacts in tests/output/browser/).
.PHONY: test-browser
test-browser: tools
	bash tests/browser/run

# execution-environment.yml validated with ansible-builder, and the shipped tarball audited after an offline install.
.PHONY: test-ee
test-ee: tools
	bash tests/ee/check

# The scenarios CI runs: two one-VM scenarios at a time, at most two VMs on the host (NODEPREP_VM_JOBS, NODEPREP_VM_MAX_VMS; `tests/vm/run-vm-tier --list` shows every scenario and its images).
VM_SCENARIOS ?= facts_kernel_states facts_boot facts_blacklist fleet_audit k8s_node_trixie br_netfilter_bookworm \
  br_netfilter_override br_netfilter_blocked br_netfilter_container package_pin_docker_repo docker_compat_docker28 \
  docker_compat_docker26 package_pin_dnf package_pin_dnf5 docker_rules_guard
.PHONY: test-vm
test-vm: tools
	bash tests/vm/run-vm-tier $(VM_SCENARIOS)

# ---------------------------------------------------------------- operator entry points

.PHONY: audit
audit: tools
	$(VENV)/bin/ansible-playbook -i $(INVENTORY) nodeprep.netfilter.audit -e audit_fail_on=$(FAIL_ON) $(AUDIT_BECOME_ARGS)

BENCH_HOSTS ?= 50
# Audit playbook vs ping floor vs probe-style baseline on N local hosts (see tests/bench/README.md).
.PHONY: bench
bench: tools
	$(VENV)/bin/python tests/bench/bench_audit.py --hosts 50,200 --forks 25 --strategy linear

.PHONY: bench-facts
bench-facts: tools
	PYTHONPATH=$(COLLECTIONS) $(VENV)/bin/python tests/bench/bench_facts.py --hosts $(BENCH_HOSTS)

.PHONY: clean
clean:
	rm -rf $(BUILD) tests/output
