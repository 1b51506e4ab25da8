# The README's commands. Each one sets up .venv first (only when needed).
.PHONY: up test test-fast lint bench-bus bench-analyst bench-voice bench-music compose-check

up:
	@scripts/setup.sh
	.venv/bin/switchboard up

test:
	@scripts/setup.sh test
	.venv/bin/python -m pytest

# the unmarked tests: no broker server, no real model, no long end-to-end run
test-fast:
	@scripts/setup.sh
	.venv/bin/python -m pytest -m "not slow and not nats and not kafka and not postgres"

lint:
	@scripts/setup.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy switchboard

bench-bus:
	@scripts/setup.sh
	.venv/bin/python bench/bus/run.py

bench-analyst:
	@scripts/setup.sh
	.venv/bin/python bench/analyst/run.py

bench-voice:
	@scripts/setup.sh
	.venv/bin/python bench/voice/run.py

bench-music:
	@scripts/setup.sh
	.venv/bin/python bench/music/run.py

compose-check:
	docker-compose -f docker-compose.yml config -q
