# Two set-up commands for a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXAMPLE := data/examples/example/scenario.yaml
OUT := reports/out
SOURCES := pyproject.toml $(shell find planner models reports data -type f \( -name '*.py' -o -name '*.csv' -o -name '*.yaml' \) -not -path 'reports/out/*')

.PHONY: demo test docs install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# A real (non-editable) install, redone whenever a source file changes; the docs extra too, since a test builds
# the manual.
$(VENV)/.installed: $(BIN)/activate $(SOURCES)
	$(BIN)/python -m pip install --quiet '.[test,docs]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	mkdir -p $(OUT)
	$(BIN)/planner validate $(EXAMPLE)
	$(BIN)/planner estimate $(EXAMPLE) --json > $(OUT)/estimate.json
	$(BIN)/planner plan $(EXAMPLE) --json $(OUT)/plan.json -o $(OUT)/plan.xlsx --csv $(OUT)/csv
	$(BIN)/planner verify $(EXAMPLE) $(OUT)/plan.json
	$(BIN)/planner evaluate $(EXAMPLE) --plan $(OUT)/plan.json --json $(OUT)/risk.json
	@echo "wrote $(OUT)/estimate.json, $(OUT)/plan.json, $(OUT)/plan.xlsx (with Risk sheets), $(OUT)/csv/ and $(OUT)/risk.json"

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

# The manual (mkdocs.yml, docs/) as a static site in site/; broken links fail the build. Open site/index.html.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	@echo "wrote site/ (open site/index.html)"

clean:
	rm -rf $(VENV) build *.egg-info $(OUT) site
