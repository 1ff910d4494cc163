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

# Where each platform would go, and why (no build): native nodes first,
# QEMU emulation only where no native node builds the platform.
run build --dry-run --farm demo --platforms linux/amd64,linux/arm64,linux/arm/v7 -t demo:1 hack/demo

# The arm64 node runs podman under qemu-user, where RUN steps cannot work;
# build on podman 5 and podman 4 amd64 nodes (arm64 under QEMU emulation).
# A node that is down is left out with a warning; the others build.
run connection add gone "ssh://root@127.0.0.1:1/run/podman/podman.sock"
run create builders podman5 podman1 gone
ref=$FARM_TEST_REGISTRY/farm-demo:latest
run build --farm builders --platforms linux/amd64,linux/arm64 --no-cache --push --tls-verify=false -t "$ref" hack/demo

printf '\nThe resulting index (%s):\n' "$ref"
skopeo inspect --raw --tls-verify=false "docker://$ref" | jq .

# The same build into the local podman's storage, ready for
# podman manifest push --all (the layers come back through farm's store:
# only those the client lacks cross the network).
run build --farm builders --platforms linux/amd64,linux/arm64 -t localhost/farm-demo:1 hack/demo
printf '\n$ podman manifest inspect localhost/farm-demo:1 | jq -r ...\n'
podman manifest inspect localhost/farm-demo:1 | jq -r '.manifests[] | .platform.os + "/" + .platform.architecture + " " + .digest'
podman manifest rm localhost/farm-demo:1 >/dev/null

# A COPY-only image on the native arm64 node, into an OCI layout.
mkdir -p "$demo/copy-only"
printf 'FROM scratch\nCOPY hello.txt /hello.txt\n' >"$demo/copy-only/Containerfile"
cp hack/demo/hello.txt "$demo/copy-only/"
if [ -n "${FARM_TEST_ARM64_URI:-}" ]; then
	run create native-arm arm64
	run build --farm native-arm --platforms linux/arm64 --output "type=oci,dest=$demo/layout" -t demo:1 "$demo/copy-only"
	printf '\n$ skopeo inspect oci:%s:1 | jq ...\n' "$demo/layout"
	skopeo inspect --override-arch arm64 "oci:$demo/layout:1" | jq '{Architecture, Os, Layers}'
fi

# Every build is recorded with its complete logs.
run history
echo
echo "The test farm keeps running; stop it with: hack/testfarm.sh stop"
