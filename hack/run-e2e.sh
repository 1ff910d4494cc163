#!/usr/bin/env bash
# Runs the end-to-end tests against the running test farm. They fail (never
# skip) when the farm is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
tags='remote exclude_graphdriver_btrfs containers_image_openpgp e2e'
# Some tests run bin/farm itself: it must be this tree's.
${MAKE:-make} --no-print-directory build >/dev/null
if env_file=$(hack/testfarm.sh env 2>/dev/null); then
	# shellcheck disable=SC1090
	. "$env_file"
else
	echo "run-e2e: the test farm is not running: start it with hack/testfarm.sh start (make test does)" >&2
fi
export FARM_REPO_ROOT=$PWD
$go test -tags "$tags" -count=1 -timeout 60m ${E2E_RUN:+-run "$E2E_RUN"} -v ./cmd
