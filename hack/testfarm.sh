#!/usr/bin/env bash
# testfarm.sh - a real, local, multi-node container build farm for tests.
#
# Starts on loopback, as root, without systemd:
#   * an sshd on 127.0.0.1 (own config, own ed25519 host key, key-only auth)
#   * podman1, podman2: two podman 4.3.1 API services (Debian's; amd64)
#   * podman5: a podman 5.8.6 API service (built from the Go module proxy)
#   * docker: Debian's dockerd 20.10 with its own containerd
#   * docker28, docker28c: dockerd 28.5.2 (built from the Go module proxy)
#     with the classic and with the containerd image store
#   * arm64: an (optional) arm64 podman API service, Debian's arm64 podman
#     binary run under qemu-user through binfmt_misc, so it reports
#     linux/arm64 natively
#   * QEMU emulators for linux/arm64 and linux/arm (binfmt_misc, flag F)
#   * two plain-HTTP registries (Debian's docker-registry, run from its
#     .deb): "registry" accepts anyone, "authreg" needs a login
# and seeds every engine with tiny busybox base images (no internet needed):
#   podman nodes: localhost/base-amd64, localhost/base-arm64 and the manifest
#                 list localhost/base (FROM base resolves per platform)
#   docker nodes: base:latest (= base-amd64:latest)
#   registry:     $REGISTRY/base:latest (list), base-amd64, base-arm64
#
# Usage: hack/testfarm.sh COMMAND
#   install            install packages, register emulators, fetch/extract
#                      debs, build podman 5 and dockerd 28, rootfs tars
#   start              install + start everything not running, write farm.env
#   stop               stop everything this script started (by PID)
#   status             show what is running
#   env                print the farm.env path if the farm runs, else exit 1
#   stop-node NAME     stop one engine (podman1|podman2|podman5|docker|docker28|docker28c|arm64)
#   start-node NAME    start one engine again
#   check              end-to-end self-check (ssh forwarding, builds, registry)
#   purge              stop, unmount and delete the state directory
#
# Environment:
#   FARM_TESTFARM_DIR    state directory (default /tmp/farm-testfarm); keep
#                        it short, unix socket paths must stay < 100 chars
#   FARM_TESTFARM_ARM64  set to 0 to skip the emulated arm64 node
#
# Processes are always stopped by the PID recorded when they were started
# (plus their descendants, and leftover container monitors/shims whose
# command line names this farm's directories); never by name.
set -euo pipefail

# sbin directories may be missing from the PATH of a test harness.
for d in /usr/local/sbin /usr/sbin /sbin; do
	[[ :$PATH: == *:$d:* ]] || PATH=$PATH:$d
done
export PATH
# Our own podman/docker client calls must not be redirected by the caller.
unset CONTAINER_HOST CONTAINER_CONNECTION CONTAINERS_CONF CONTAINERS_REGISTRIES_CONF \
	CONTAINERS_STORAGE_CONF DOCKER_HOST DOCKER_CONTEXT DOCKER_CONFIG
# The environment the daemons get (nothing from the caller leaks into them).
DAEMON_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${FARM_TESTFARM_DIR:-/tmp/farm-testfarm}
DIR=${DIR%/}
ENV_FILE=$DIR/farm.env
WANT_ARM64=${FARM_TESTFARM_ARM64:-1}
# The nodes, all on loopback behind one sshd: podman 4.3.1 (podman1,
# podman2), podman 5.8.6 (podman5), docker 20.10 (docker), docker 28.5.2
# with the classic and the containerd image store (docker28, docker28c),
# and an emulated native-arm64 podman 4.3.1 (arm64).
NODES=(podman1 podman2 podman5 docker docker28 docker28c arm64)
SSH_PORT_FIRST=42022
REG_PORT_FIRST=42500
# Where the engines' base images come from (built by install).
IMG_DIR=$DIR/img
CACHE_DIR=$DIR/cache
PKG_DIR=$DIR/pkg
ARM64_ROOT=$PKG_DIR/arm64 # extracted podman:arm64 (binary only)
REGISTRY_BIN=$PKG_DIR/registry/usr/bin/docker-registry
DOCKER_CLI=/usr/bin/docker
[[ -x $DOCKER_CLI ]] || DOCKER_CLI=docker

log() { printf '[testfarm] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# The modules (functions only).
# shellcheck source=hack/testfarm/proc.sh
. "$HACK_DIR/testfarm/proc.sh"
# shellcheck source=hack/testfarm/install.sh
. "$HACK_DIR/testfarm/install.sh"
# shellcheck source=hack/testfarm/sshd.sh
. "$HACK_DIR/testfarm/sshd.sh"
# shellcheck source=hack/testfarm/registry.sh
. "$HACK_DIR/testfarm/registry.sh"
# shellcheck source=hack/testfarm/podman.sh
. "$HACK_DIR/testfarm/podman.sh"
# shellcheck source=hack/testfarm/docker.sh
. "$HACK_DIR/testfarm/docker.sh"
# shellcheck source=hack/testfarm/seed.sh
. "$HACK_DIR/testfarm/seed.sh"
# shellcheck source=hack/testfarm/nodes.sh
. "$HACK_DIR/testfarm/nodes.sh"
# shellcheck source=hack/testfarm/env.sh
. "$HACK_DIR/testfarm/env.sh"

# ---------------------------------------------------------------------------
# Commands

cmd_start() {
	local t0=$SECONDS
	take_lock
	cmd_install
	start_sshd
	local r n
	for r in "${REGISTRIES[@]}"; do start_registry "$r"; done
	for n in podman1 podman2 podman5 docker docker28 docker28c; do
		start_node "$n" || die "$n failed to start (log: $(node_dir "$n")/log)"
	done
	seed_registry podman1 || die "pushing the base images to the registry failed"
	if [[ $WANT_ARM64 == 0 ]]; then
		stop_node arm64
		arm64_unavailable "disabled by FARM_TESTFARM_ARM64=0"
	else
		start_node arm64 || true
	fi
	write_env
	log "farm ready in $((SECONDS - t0))s"
	printf '%s\n' "$ENV_FILE"
}

cmd_stop() {
	take_lock
	local n
	for n in "${NODES[@]}"; do stop_node "$n"; done
	for n in "${REGISTRIES[@]}"; do stop_registry "$n"; done
	stop_sshd
	rm -f "$ENV_FILE"
	log "stopped"
}

cmd_stop_node() {
	valid_node "${1:-}"
	take_lock
	stop_node "$1"
	[[ -f $ENV_FILE ]] && write_env
	log "$1 stopped"
}

cmd_start_node() {
	valid_node "${1:-}"
	take_lock
	if ! { running "$SSH_PIDFILE" "$SSH_CONF" && reg_running registry; }; then
		die "the farm is not running; use '$0 start'"
	fi
	start_node "$1" || die "$1 failed to start (log: $(node_dir "$1")/log)"
	write_env
	log "$1 running (pid $(node_pid_if_running "$1"))"
}

cmd_status() {
	local n pid state
	printf '%-10s %-8s %-8s %s\n' COMPONENT PID STATE ENDPOINT
	pid=$(read_pid "$SSH_PIDFILE")
	state=down
	running "$SSH_PIDFILE" "$SSH_CONF" && state=up
	printf '%-10s %-8s %-8s %s\n' sshd "${pid:--}" "$state" "127.0.0.1:$(ssh_port)"
	for n in "${REGISTRIES[@]}"; do
		pid=$(read_pid "$(reg_pidfile "$n")")
		state=down
		reg_running "$n" && state=up
		printf '%-10s %-8s %-8s %s\n' "$n" "${pid:--}" "$state" "http://$(reg_addr "$n")"
	done
	for n in "${NODES[@]}"; do
		pid=$(read_pid "$(node_pidfile "$n")")
		state=down
		if node_running "$n"; then
			state=up
			node_ping "$n" 2>/dev/null || state=hung
		elif [[ $n == arm64 && -f $(node_dir arm64)/unavailable ]]; then
			state="n/a"
		fi
		printf '%-10s %-8s %-8s %s\n' "$n" "${pid:--}" "$state" "$(node_sock "$n")"
	done
	if [[ -f $(node_dir arm64)/unavailable ]]; then
		printf 'arm64 unavailable: %s\n' "$(cat "$(node_dir arm64)/unavailable")"
	fi
	if [[ -f $ENV_FILE ]]; then printf 'env: %s\n' "$ENV_FILE"; fi
}

cmd_env() {
	if [[ -f $ENV_FILE ]] && running "$SSH_PIDFILE" "$SSH_CONF" &&
		reg_running registry && reg_running authreg; then
		printf '%s\n' "$ENV_FILE"
		return 0
	fi
	return 1
}

cmd_purge() {
	check_dir
	if [[ ! -d $DIR ]]; then
		log "nothing to purge ($DIR does not exist)"
		return 0
	fi
	[[ -f $DIR/.farm-testfarm ]] || die "$DIR has no .farm-testfarm marker, not deleting it"
	cmd_stop
	# Unmount anything under the state dir (podman's overlay bind mount,
	# leftover container rootfs, ...), deepest first.
	unmount_under "$DIR/"
	rm -rf "$DIR"
	log "purged $DIR"
}

cmd_check() {
	"$HACK_DIR/testfarm/check.sh" "$@"
}

usage() {
	sed -n '/^# Usage:/,/^#   purge/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

main() {
	[[ $(id -u) -eq 0 ]] || die "must run as root"
	check_dir
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	install) take_lock && cmd_install ;;
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	env) cmd_env ;;
	stop-node) cmd_stop_node "$@" ;;
	start-node) cmd_start_node "$@" ;;
	check) cmd_check "$@" ;;
	purge) cmd_purge ;;
	*) usage ;;
	esac
}

main "$@"
