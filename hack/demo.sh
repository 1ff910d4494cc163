#!/usr/bin/env bash
# make demo: start the local test farm and show farm at work on it, with a
# private configuration so the user's own connections are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/testfarm.sh start >/dev/null
# shellcheck disable=SC1090
. "$(hack/testfarm.sh env)"

demo=$FARM_TEST_DIR/demo
rm -rf "$demo" && mkdir -p "$demo/home/.ssh"
cp "$FARM_TEST_KNOWN_HOSTS" "$demo/home/.ssh/known_hosts"
: >"$demo/containers.conf"
export HOME=$demo/home XDG_CONFIG_HOME=$demo/home/.config CONTAINERS_CONF=$demo/containers.conf SSH_AUTH_SOCK=
farm=$PWD/bin/farm

run() { printf '\n$ farm %s\n' "$*"; "$farm" "$@"; }

for node in podman1 podman2 podman5 docker docker28 docker28c arm64; do
	uri_var=FARM_TEST_${node^^}_URI
	[ -n "${!uri_var}" ] || continue
	run connection add --identity "$FARM_TEST_IDENTITY" "$node" "${!uri_var}"
done
run create demo podman1 podman2 podman5 docker docker28 docker28c ${FARM_TEST_ARM64_URI:+arm64}
run list
run status || true   # exit 3 would only mean a node is down

# The arm64 node runs podman under qemu-user, where RUN steps cannot work;
# build on podman 5 and podman 4 amd64 nodes (arm64 under QEMU emulation).
run create builders podman5 podman1
ref=$FARM_TEST_REGISTRY/farm-demo:latest
run build --farm builders --platforms linux/amd64,linux/arm64 --no-cache --push --tls-verify=false -t "$ref" hack/demo

printf '\nThe resulting index (%s):\n' "$ref"
skopeo inspect --raw --tls-verify=false "docker://$ref" | jq .
echo
echo "The test farm keeps running; stop it with: hack/testfarm.sh stop"
