# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_DISABLE_TELEMETRY := true

.PHONY: install manifest demo test serve validate

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

# @dbt_assets reads dbt's manifest at import time, so it is written before anything imports the definitions.
manifest: install
	$(BIN)/python -c "from xbot_assets.project import prepare_manifest; prepare_manifest()"

demo: manifest
	$(BIN)/xbot demo

# The suite in one process per core (at most 4; pytest-xdist), each test file in one process: the files' module
# fixtures are built once, and the faults' table is gathered from every process. `$(BIN)/pytest` alone runs serially.
test: manifest
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile

validate: manifest
	$(BIN)/dagster definitions validate -w workspace.yaml

# The UI and the daemon on the instance `xbot demo` records its runs in (DAGSTER_HOME, default .xbot/dagster_home).
serve: manifest
	$(BIN)/xbot serve
