.PHONY: demo test lint format bench

demo:  ## install, seed and run the site and a grading worker
	bash scripts/demo.sh

test:  ## lint and run the whole test suite
	bash scripts/test.sh

bench:  ## the benchmark suite (bench/run.sh --quick for a short run)
	bash bench/run.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
