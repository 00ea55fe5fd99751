.PHONY: help demo test check lint types format bench

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-7s %s\n", $$1, $$2}'

demo:  ## install, seed and run the site and a grading worker (the demo course)
	bash scripts/demo.sh

test:  ## lint, type-check and run the whole test suite (what CI runs)
	bash scripts/test.sh

check:  ## lint, type-check and the fast tests (no Docker, browser, services or slow tests)
	bash scripts/test.sh -m "not docker and not browser and not services and not slow" -q

lint:  ## ruff check and format check
	bash scripts/lint.sh

types:  ## mypy: --strict on grader/ and sandboxes/, django-stubs on platform/
	bash scripts/types.sh

format:  ## rewrite the code with ruff format and ruff's safe fixes
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

bench:  ## the benchmark suite (bench/run.sh --quick for a short run)
	bash bench/run.sh
