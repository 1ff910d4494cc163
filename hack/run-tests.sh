#!/usr/bin/env bash
# make test: unit tests, then the end-to-end tests on a freshly started test
# farm, which is stopped again whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
tags='remote exclude_graphdriver_btrfs containers_image_openpgp'

echo "== unit tests"
$go test -tags "$tags" -count=1 ./...

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
