#!/usr/bin/env bash
# check.sh - end-to-end self-check of a running test farm (hack/testfarm.sh
# check).  Everything goes through the farm's sshd like the farm CLI does:
#   * each engine socket forwarded over ssh answers /_ping
#   * `podman --url ssh://...` works against every podman node
#   * FROM base + RUN uname -m: linux/amd64 and (QEMU) linux/arm64 on
#     podman1, linux/amd64 on podman2 and on the docker node
#   * the arm64 node reports arm64, runs a COPY-only build for arm64
#   * the registry holds the base images
# Prints one line per check and 'N passed, N failed'; exits 1 on failure.
set -euo pipefail

DIR=${FARM_TESTFARM_DIR:-/tmp/farm-testfarm}
ENV_FILE=${DIR%/}/farm.env
[[ -f $ENV_FILE ]] || {
	echo "farm not running (no $ENV_FILE)" >&2
	exit 1
}
# shellcheck source=/dev/null
source "$ENV_FILE"

DOCKER_CLI=/usr/bin/docker
[[ -x $DOCKER_CLI ]] || DOCKER_CLI=docker
WORK=$(mktemp -d /tmp/farm-check.XXXXXX)
FWD_PIDS=()
cleanup() {
	local p
	for p in "${FWD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${FWD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# A throw-away HOME whose known_hosts is the farm's, as the Go tests do.
export HOME=$WORK/home
mkdir -p "$HOME/.ssh"
chmod 0700 "$HOME/.ssh"
cp "$FARM_TEST_KNOWN_HOSTS" "$HOME/.ssh/known_hosts"

SSH_OPTS=(-F /dev/null -i "$FARM_TEST_IDENTITY" -o IdentitiesOnly=yes -o BatchMode=yes
	-o UserKnownHostsFile="$FARM_TEST_KNOWN_HOSTS" -o StrictHostKeyChecking=yes
	-o ConnectTimeout=5 -o LogLevel=ERROR -p "$FARM_TEST_SSH_PORT")

PASS=0
FAIL=0
ok() {
	PASS=$((PASS + 1))
	printf 'ok   %s\n' "$*"
}
bad() {
	FAIL=$((FAIL + 1))
	printf 'FAIL %s\n' "$*"
}
# t NAME CMD...: run CMD, record the result.
t() {
	local name=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		ok "$name"
	else
		bad "$name"
		printf '%s\n' "$out" | tail -n 15 | sed 's/^/     | /'
	fi
}

# forward NAME REMOTE_SOCK: forward the local unix socket $WORK/NAME.sock
# to REMOTE_SOCK over ssh (the ssh client is killed on exit).
forward() {
	local l=$WORK/$1.sock i
	ssh "${SSH_OPTS[@]}" -N -o ExitOnForwardFailure=yes \
		-L "$l:$2" "$FARM_TEST_SSH_USER@$FARM_TEST_SSH_HOST" </dev/null >/dev/null 2>&1 &
	FWD_PIDS+=("$!")
	for ((i = 0; i < 100; i++)); do
		[[ -S $l ]] && break
		sleep 0.1
	done
}

expect_in() { # expect_in WANT CMD...: CMD's output contains WANT
	local want=$1 out
	shift
	out=$("$@" 2>&1) || {
		printf '%s\n' "$out"
		return 1
	}
	grep -q -- "$want" <<<"$out" || {
		printf '%s\n(expected %s)\n' "$out" "$want"
		return 1
	}
}

t "ssh root@127.0.0.1:$FARM_TEST_SSH_PORT" ssh "${SSH_OPTS[@]}" "$FARM_TEST_SSH_USER@$FARM_TEST_SSH_HOST" true

declare -A LOCAL
for n in PODMAN1 PODMAN2 DOCKER ARM64; do
	uri_var=FARM_TEST_${n}_URI
	sock_var=FARM_TEST_${n}_SOCK
	if [[ -z ${!uri_var} ]]; then
		printf 'skip %s (no URI)\n' "$n"
		continue
	fi
	forward "$n" "${!sock_var}"
	LOCAL[$n]=$WORK/$n.sock
	t "$n /_ping via ssh -L" expect_in OK curl -fsS -m 20 --unix-socket "${LOCAL[$n]}" http://d/_ping
done

# podman remote over ssh
for n in PODMAN1 PODMAN2 ARM64; do
	uri_var=FARM_TEST_${n}_URI
	[[ -n ${!uri_var} ]] || continue
	want=amd64
	[[ $n == ARM64 ]] && want=arm64
	t "$n podman --url ssh:// info (arch $want)" expect_in "^$want\$" \
		podman --url "${!uri_var}" --identity "$FARM_TEST_IDENTITY" info --format '{{.Host.Arch}}'
done

# Builds: FROM base + RUN uname -m
CTX=$WORK/ctx
mkdir -p "$CTX"
printf 'FROM base\nRUN uname -m | tee /arch\n' >"$CTX/Containerfile"
cp "$CTX/Containerfile" "$CTX/Dockerfile"
echo hello >"$CTX/hello.txt"
printf 'FROM base\nCOPY hello.txt /hello.txt\n' >"$CTX/Containerfile.copy"

pbuild() { # pbuild NODE PLATFORM WANT
	local uri_var=FARM_TEST_${1}_URI
	expect_in "$3" podman --url "${!uri_var}" --identity "$FARM_TEST_IDENTITY" \
		build --platform "$2" --no-cache -t "localhost/farm-check-${2//\//-}" -f "$CTX/Containerfile" "$CTX"
}
t "PODMAN1 build linux/amd64 RUN uname -m -> x86_64" pbuild PODMAN1 linux/amd64 x86_64
t "PODMAN1 build linux/arm64 RUN uname -m -> aarch64 (qemu)" pbuild PODMAN1 linux/arm64 aarch64
t "PODMAN2 build linux/amd64 RUN uname -m -> x86_64" pbuild PODMAN2 linux/amd64 x86_64
t "PODMAN1 image for linux/arm64 has arch arm64" expect_in '^arm64$' \
	podman --url "$FARM_TEST_PODMAN1_URI" --identity "$FARM_TEST_IDENTITY" \
	image inspect --format '{{.Architecture}}' localhost/farm-check-linux-arm64

if [[ -n ${LOCAL[DOCKER]:-} ]]; then
	t "DOCKER build RUN uname -m -> x86_64" expect_in x86_64 \
		env DOCKER_HOST="unix://${LOCAL[DOCKER]}" DOCKER_BUILDKIT=0 "$DOCKER_CLI" build --no-cache -t farm-check "$CTX"
fi

if [[ -n $FARM_TEST_ARM64_URI ]]; then
	# shellcheck disable=SC2016 # $1.. belong to the inner sh
	t "ARM64 COPY-only build, image arch arm64" expect_in '^arm64$' sh -c '
		podman --url "$1" --identity "$2" build -q -t localhost/farm-check-copy -f "$3/Containerfile.copy" "$3" >/dev/null &&
		podman --url "$1" --identity "$2" image inspect --format "{{.Architecture}}" localhost/farm-check-copy' \
		sh "$FARM_TEST_ARM64_URI" "$FARM_TEST_IDENTITY" "$CTX"
	t "ARM64 podman run base uname -m -> aarch64" expect_in aarch64 \
		podman --url "$FARM_TEST_ARM64_URI" --identity "$FARM_TEST_IDENTITY" run --rm localhost/base:latest uname -m
fi

# Registry
reg_list() {
	curl -fsS -m 10 -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		-H 'Accept: application/vnd.oci.image.index.v1+json' \
		"http://$FARM_TEST_REGISTRY/v2/base/manifests/latest" |
		jq -r '[.manifests[].platform.architecture] | sort | join(",")'
}
t "registry $FARM_TEST_REGISTRY base:latest lists amd64,arm64" expect_in '^amd64,arm64$' reg_list
t "registry has base-amd64, base-arm64" expect_in 'base-arm64' \
	curl -fsS -m 10 "http://$FARM_TEST_REGISTRY/v2/_catalog"

# Remove what the checks built.
for n in PODMAN1 PODMAN2 ARM64; do
	uri_var=FARM_TEST_${n}_URI
	[[ -n ${!uri_var} ]] || continue
	podman --url "${!uri_var}" --identity "$FARM_TEST_IDENTITY" rmi -f \
		localhost/farm-check-linux-amd64 localhost/farm-check-linux-arm64 localhost/farm-check-copy \
		>/dev/null 2>&1 || true
	podman --url "${!uri_var}" --identity "$FARM_TEST_IDENTITY" image prune -f >/dev/null 2>&1 || true
done
if [[ -n ${LOCAL[DOCKER]:-} ]]; then
	"$DOCKER_CLI" -H "unix://${LOCAL[DOCKER]}" rmi -f farm-check >/dev/null 2>&1 || true
	"$DOCKER_CLI" -H "unix://${LOCAL[DOCKER]}" image prune -f >/dev/null 2>&1 || true
fi

echo "$PASS passed, $FAIL failed"
((FAIL == 0))
