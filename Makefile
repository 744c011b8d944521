# The README's two commands are `make demo` and `make test`; both set up what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup deps demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# A simulated 4-plane fabric watched over gNMI, sFlow and BIRD; plane 2 fails at t=60 s for 120 s (10x speed),
# then what the store says about it: the timeline, and an HTML incident report (demo-data/incident.html).
demo: $(STAMP)
	rm -rf demo-data
	$(VENV)/bin/planewatch up --data demo-data --scenario plane-down --plane 2 --at 60 --for 120 --duration 300 --speed 10
	$(VENV)/bin/planewatch query timeline --data demo-data --plane 2
	$(VENV)/bin/planewatch report --data demo-data --plane 2 --out demo-data/incident.html

# System packages and tools the protocol tests need (tshark, Open vSwitch, BIRD, …).
deps:
	@for script in scripts/deps/*.sh; do [ -e "$$script" ] || continue; echo "== $$script"; bash "$$script" || exit 1; done

test: $(STAMP) deps
	$(PY) -m pytest

clean:
	rm -rf $(VENV) demo-data build *.egg-info
