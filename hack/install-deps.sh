#!/usr/bin/env bash
# install-deps.sh - install the Debian packages the test build farm needs.
#
# Idempotent: installs only what is missing.  Runs `apt-get update` only when
# the package lists are empty, lack the arm64 architecture, or an install
# failed (stale lists).  Must run as root on Debian 12 (bookworm).
#
# Besides the amd64 packages it enables the arm64 dpkg architecture, because
# hack/testfarm.sh downloads two arm64 packages (busybox-static:arm64 for the
# arm64 base image, podman:arm64 for the emulated native-arm64 node) with
# `apt-get download` and extracts them into its state directory (they are
# never installed), and installs the few multiarch arm64 libraries that the
# arm64 podman binary needs (ARM64_PACKAGES below).
#
# Service starts by package maintainer scripts are suppressed with a
# temporary /usr/sbin/policy-rc.d (only if none exists).
#
# Usage: hack/install-deps.sh [--quiet] [--no-arm64]
#   --quiet     say nothing when everything is already installed
#   --no-arm64  skip the arm64 (multiarch) libraries of the emulated node
#               (the arm64 dpkg architecture is enabled anyway)
set -euo pipefail

# Packages needed on the host.  docker-registry is deliberately NOT here: its
# postinst starts a service on :5000; testfarm.sh downloads and extracts it.
PACKAGES=(
	podman buildah skopeo runc conmon uidmap containernetworking-plugins
	openssh-server openssh-client
	qemu-user-static binfmt-support
	docker.io containerd
	netavark aardvark-dns apache2-utils
	busybox-static iproute2 curl jq bc ca-certificates
	gcc libc6-dev libseccomp-dev pkg-config shellcheck
)

# Libraries of Debian's arm64 podman binary, which testfarm.sh runs under
# qemu-user for the optional native-arm64 node.  Installed as multiarch
# packages (next to the amd64 ones) so that the arm64 dynamic loader finds
# them without QEMU_LD_PREFIX (with it, qemu's path redirection breaks
# podman's chrooted tar extraction and forks of the service can deadlock).
# Optional: a failure here only makes the arm64 node unavailable.
ARM64_PACKAGES=(
	libc6:arm64 libgpgme11:arm64 libseccomp2:arm64 libdevmapper1.02.1:arm64
	libsubid4:arm64
)

log() { printf '[install-deps] %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
	log "must run as root"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-o Acquire::Retries=3 -o Acquire::http::Timeout=30 -o DPkg::Lock::Timeout=120)

# apt_update runs `apt-get update`.  Third-party sources that this machine
# cannot reach only produce warnings; a failure is reported but not fatal,
# the install step below decides whether we really lack something.
apt_update() {
	log "apt-get update"
	if ! apt-get "${APT_OPTS[@]}" update -qq >/tmp/farm-apt-update.log 2>&1; then
		log "apt-get update reported errors (continuing):"
		tail -n 5 /tmp/farm-apt-update.log >&2 || true
	fi
}

# lists_ok: the package lists contain amd64 and arm64 indexes.
lists_ok() {
	compgen -G '/var/lib/apt/lists/*_binary-amd64_Packages*' >/dev/null &&
		compgen -G '/var/lib/apt/lists/*_binary-arm64_Packages*' >/dev/null
}

# missing_packages prints the packages of $@ that are not installed.
missing_packages() {
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[[ $status == installed ]] || printf '%s\n' "$p"
	done
}

# no_service_starts: keep package maintainer scripts from starting services
# (sshd on :22, dockerd on /var/run/docker.sock, ...) on machines where they
# could: a temporary policy-rc.d that denies everything.
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0
no_service_starts() {
	if [[ ! -e $POLICY_RC ]]; then
		printf '#!/bin/sh\n# temporary, from farm hack/install-deps.sh\nexit 101\n' >"$POLICY_RC"
		chmod 0755 "$POLICY_RC"
		POLICY_RC_OURS=1
		trap 'restore_services' EXIT
	fi
}
restore_services() {
	if ((POLICY_RC_OURS)); then
		rm -f "$POLICY_RC"
		POLICY_RC_OURS=0
	fi
}

# apt_install PKG...: install, refreshing the lists once if that fails.
UPDATED=0
apt_install() {
	local install=(apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "$@")
	log "installing: $*"
	no_service_starts
	if "${install[@]}" >/tmp/farm-apt-install.log 2>&1; then
		return 0
	fi
	if ((!UPDATED)); then
		# Probably stale lists (404 on an old version): refresh and retry.
		apt_update
		UPDATED=1
		"${install[@]}" >/tmp/farm-apt-install.log 2>&1 && return 0
	fi
	tail -n 20 /tmp/farm-apt-install.log >&2
	return 1
}

main() {
	local quiet=0 arm64=1 arg
	for arg in "$@"; do
		case $arg in
		--quiet) quiet=1 ;;
		--no-arm64) arm64=0 ;;
		*)
			log "unknown option $arg"
			return 2
			;;
		esac
	done

	# Always: busybox-static:arm64 (the arm64 base image) comes from there.
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		log "enabling the arm64 dpkg architecture"
		dpkg --add-architecture arm64
	fi
	if ! lists_ok; then
		apt_update
		UPDATED=1
	fi

	local missing
	mapfile -t missing < <(missing_packages "${PACKAGES[@]}")
	if ((${#missing[@]})); then
		apt_install "${missing[@]}" || {
			log "apt-get install failed"
			return 1
		}
	fi
	if ((arm64)); then
		mapfile -t missing < <(missing_packages "${ARM64_PACKAGES[@]}")
		if ((${#missing[@]})); then
			apt_install "${missing[@]}" ||
				log "warning: could not install the arm64 libraries; the arm64 node will be unavailable"
		fi
	fi
	((quiet)) || log "packages ready"
	restore_services
}

main "$@"
