#!/usr/bin/env bash
# make test: install what is missing, lint and build, run the unit tests
# with the race detector, then the end-to-end tests on a freshly started
# test farm, which is stopped again whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}

echo "== installing what is missing"
hack/install-deps.sh --quiet

echo "== lint and build"
$make lint build

echo "== unit tests (-race)"
$make unit

echo "== starting the test farm"
started=0
if ! hack/testfarm.sh env >/dev/null 2>&1; then
	started=1
fi
stop_farm() { if [ "$started" = 1 ]; then hack/testfarm.sh stop || true; fi; }
trap stop_farm EXIT
hack/testfarm.sh start

echo "== end-to-end tests"
hack/run-e2e.sh
