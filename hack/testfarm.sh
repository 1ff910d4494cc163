#!/usr/bin/env bash
# testfarm.sh - a real, local, multi-node container build farm for tests.
#
# Starts on loopback, as root, without systemd:
#   * an sshd on 127.0.0.1 (own config, own ed25519 host key, key-only auth)
#   * podman1, podman2: two independent podman API services (amd64)
#   * docker: a dockerd with its own containerd (amd64)
#   * arm64: an (optional) arm64 podman API service, Debian's arm64 podman
#     binary run under qemu-user through binfmt_misc, so it reports
#     linux/arm64 natively
#   * a plain-HTTP registry (Debian's docker-registry, run from its .deb)
# and seeds every engine with tiny busybox base images (no internet needed):
#   podman nodes: localhost/base-amd64, localhost/base-arm64 and the manifest
#                 list localhost/base (FROM base resolves per platform)
#   docker node:  base:latest (= base-amd64:latest)
#   registry:     $REGISTRY/base:latest (list), base-amd64, base-arm64
#
# Usage: hack/testfarm.sh COMMAND
#   install            install packages, fetch/extract debs, build rootfs tars
#   start              install + start everything not running, write farm.env
#   stop               stop everything this script started (by PID)
#   status             show what is running
#   env                print the farm.env path if the farm runs, else exit 1
#   stop-node NAME     stop one engine (podman1|podman2|docker|arm64)
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
NODES=(podman1 podman2 docker arm64)
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

# ---------------------------------------------------------------------------
# Sanity of the state directory.

check_dir() {
	[[ $DIR == /* ]] || die "FARM_TESTFARM_DIR must be absolute: $DIR"
	[[ $DIR =~ ^[A-Za-z0-9/._-]+$ ]] || die "FARM_TESTFARM_DIR may only contain [A-Za-z0-9/._-]: $DIR"
	# Longest socket: $DIR/docker/ctd.sock.ttrpc
	((${#DIR} <= 72)) || die "FARM_TESTFARM_DIR too long (${#DIR} > 72 chars), unix socket paths would be too long"
	case $DIR in / | /tmp | /root | /home | /var | /usr | /etc) die "refusing to use $DIR as state directory" ;; esac
}

init_dir() {
	mkdir -p "$DIR"
	chmod 0755 "$DIR"
	touch "$DIR/.farm-testfarm" # marker: purge only deletes a dir carrying it
}

# take_lock serialises the commands that change state (fd 9 stays open until
# the script exits; every process we spawn gets it closed).
take_lock() {
	init_dir
	exec 9>"$DIR/.lock"
	flock -w 900 9 || die "could not get the lock $DIR/.lock"
}

# ---------------------------------------------------------------------------
# Process helpers (all by PID).

# pid_alive PID [MARKER]: PID exists, is not a zombie and (if MARKER is
# given) its command line contains MARKER - guards against PID reuse.
pid_alive() {
	local pid=$1 marker=${2:-} stat state cmd
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	state=${stat##*) }
	state=${state%% *}
	[[ $state != Z && $state != X ]] || return 1
	if [[ -n $marker ]]; then
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
		[[ $cmd == *"$marker"* ]] || return 1
	fi
}

# read_pid FILE: print the PID stored in FILE (empty if none).
read_pid() {
	local pid=
	if [[ -f $1 ]]; then read -r pid <"$1" 2>/dev/null || true; fi
	[[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
	return 0
}

# running PIDFILE MARKER: the process recorded in PIDFILE is alive.
running() {
	local pid
	pid=$(read_pid "$1")
	[[ -n $pid ]] && pid_alive "$pid" "$2"
}

# children_of PID: direct children of PID.
children_of() {
	local f line rest ppid pid
	for f in /proc/[0-9]*/stat; do
		line=$(<"$f") 2>/dev/null || continue
		rest=${line##*) }
		read -r _ ppid _ <<<"$rest"
		if [[ $ppid == "$1" ]]; then
			pid=${f#/proc/}
			printf '%s\n' "${pid%/stat}"
		fi
	done
}

# descendants PID: all descendants of PID (children first, then theirs).
descendants() {
	local c
	for c in $(children_of "$1"); do
		printf '%s\n' "$c"
		descendants "$c"
	done
}

# marked_procs MARKER EXE...: PIDs whose executable basename is one of EXE
# and whose command line contains MARKER (container monitors and shims that
# daemonised away from the engine that started them).
marked_procs() {
	local marker=$1 f pid exe cmd
	shift
	for f in /proc/[0-9]*; do
		pid=${f#/proc/}
		exe=$(readlink "$f/exe" 2>/dev/null) || continue
		exe=${exe##*/}
		exe=${exe% (deleted)}
		local want=0 e
		for e in "$@"; do [[ $exe == "$e" ]] && want=1; done
		((want)) || continue
		cmd=$(tr '\0' ' ' <"$f/cmdline" 2>/dev/null) || continue
		[[ $cmd == *"$marker"* ]] && printf '%s\n' "$pid"
	done
	return 0
}

# wait_gone SECONDS PID...: wait until all PIDs are gone; 1 on timeout.
wait_gone() {
	local deadline=$((SECONDS + $1)) p left
	shift
	while :; do
		left=0
		for p in "$@"; do pid_alive "$p" && left=1; done
		((left)) || return 0
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# terminate SECONDS PID...: SIGTERM, wait, then SIGKILL what is left.
terminate() {
	local secs=$1 p
	shift
	(($#)) || return 0
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	if ! wait_gone "$secs" "$@"; then
		for p in "$@"; do
			if pid_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
		done
		wait_gone 10 "$@" || log "warning: some of PIDs $* did not exit"
	fi
}

# stop_pidfile NAME PIDFILE MARKER [SECONDS]: stop the process recorded in
# PIDFILE and then whatever descendants it leaves behind.
stop_pidfile() {
	local name=$1 pidfile=$2 marker=$3 secs=${4:-20} pid kids
	pid=$(read_pid "$pidfile")
	if [[ -n $pid ]] && pid_alive "$pid" "$marker"; then
		mapfile -t kids < <(descendants "$pid")
		log "stopping $name (pid $pid)"
		terminate "$secs" "$pid"
		local k alive=()
		for k in "${kids[@]}"; do pid_alive "$k" && alive+=("$k"); done
		terminate 5 "${alive[@]}"
	fi
	rm -f "$pidfile"
}

# spawn PIDFILE LOGFILE CMD...: start CMD in its own session, detached from
# our stdio and lock, with a clean environment (DAEMON_ENV), and record its
# PID (the wrapper writes its own PID and then execs, so the PID is right
# even if setsid has to fork).
spawn() {
	local pidfile=$1 logfile=$2
	shift 2
	rm -f "$pidfile"
	printf '\n=== %s starting: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logfile"
	# shellcheck disable=SC2016 # $$ and $0 are for the inner sh
	setsid "${DAEMON_ENV[@]}" sh -c 'cd / && echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
		</dev/null >>"$logfile" 2>&1 9>&- &
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $pidfile ]] && return 0
		sleep 0.05
	done
	die "could not start $1 (no pid file $pidfile)"
}

# wait_ready WHAT SECONDS PIDFILE MARKER LOG CMD...: poll CMD until it
# succeeds; fail early if the process died.  Prints the log tail on failure.
wait_ready() {
	local what=$1 secs=$2 pidfile=$3 marker=$4 logfile=$5
	shift 5
	local deadline=$((SECONDS + secs))
	while ! "$@" >/dev/null 2>&1; do
		if ! running "$pidfile" "$marker"; then
			log "$what exited during start-up; last lines of $logfile:"
			tail -n 25 "$logfile" >&2 || true
			return 1
		fi
		if ((SECONDS >= deadline)); then
			log "$what did not answer within ${secs}s; last lines of $logfile:"
			tail -n 25 "$logfile" >&2 || true
			return 1
		fi
		sleep 0.2
	done
}

# port_free PORT: nothing listens on PORT (tcp).
port_free() {
	[[ -z $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
}

# pick_port FILE FIRST: reuse the port saved in FILE if free, else the first
# free port from FIRST upward; saves and prints it.
pick_port() {
	local file=$1 first=$2 port=
	if [[ -f $file ]]; then read -r port <"$file" || true; fi
	if [[ ! $port =~ ^[0-9]+$ ]] || ! port_free "$port"; then
		for ((port = first; port < first + 200; port++)); do
			port_free "$port" && break
		done
		port_free "$port" || die "no free tcp port from $first upward"
	fi
	echo "$port" >"$file"
	printf '%s' "$port"
}

# ---------------------------------------------------------------------------
# install: packages, binfmt, downloaded debs, rootfs tarballs.

apt_download() { # apt_download DESTDIR PKG...
	local dest=$1
	shift
	(cd "$dest" && apt-get -q -o APT::Sandbox::User=root download "$@" >/dev/null)
}

# fetch_deb NAME ARCH: make sure $CACHE_DIR has NAME_*_ARCH.deb; print path.
fetch_deb() {
	local name=$1 arch=$2 f
	f=$(compgen -G "$CACHE_DIR/${name}_*_${arch}.deb" | head -n1 || true)
	if [[ -z $f ]]; then
		local spec=$name
		[[ $arch == "$(dpkg --print-architecture)" ]] || spec=$name:$arch
		if ! apt_download "$CACHE_DIR" "$spec"; then
			# Stale package lists (the version they name is gone): refresh.
			log "apt-get download $spec failed; refreshing package lists"
			apt-get -qq update >/dev/null 2>&1 || true
			apt_download "$CACHE_DIR" "$spec" || return 1
		fi
		f=$(compgen -G "$CACHE_DIR/${name}_*_${arch}.deb" | head -n1 || true)
	fi
	[[ -n $f ]] || return 1
	printf '%s' "$f"
}

setup_binfmt() {
	if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
			die "cannot mount binfmt_misc"
	fi
	local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
	# An entry registered without F (fix binary) does not work inside
	# containers: drop it so update-binfmts registers Debian's (which has F).
	if [[ -e $entry ]] && ! grep -q '^flags:.*F' "$entry"; then
		log "re-registering qemu-aarch64 binfmt with flag F"
		echo -1 >"$entry"
	fi
	if [[ ! -e $entry ]] || ! grep -qx enabled "$entry"; then
		update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 ||
			update-binfmts --enable >/dev/null 2>&1 || true
	fi
	if ! { [[ -e $entry ]] && grep -qx enabled "$entry" && grep -q '^flags:.*F' "$entry"; }; then
		die "qemu-aarch64 binfmt_misc entry is not enabled with flag F: $(cat "$entry" 2>&1)"
	fi
}

# make_rootfs ARCH BUSYBOX OUT: a tiny deterministic rootfs tarball.
make_rootfs() {
	local arch=$1 bb=$2 out=$3 tmp a
	tmp=$(mktemp -d "$DIR/rootfs.XXXXXX")
	mkdir -p "$tmp"/{bin,etc,root,dev,proc,sys,var,usr/bin}
	install -d -m 1777 "$tmp/tmp"
	install -m 0755 "$bb" "$tmp/bin/busybox"
	# Applet names from the host's busybox-static (same version/config).
	for a in $(/bin/busybox --list); do
		[[ $a == busybox ]] || ln -sf busybox "$tmp/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$tmp/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/etc/group"
	echo "farm-testfarm base ($arch)" >"$tmp/etc/farm-base"
	tar -C "$tmp" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-cf "$out.tmp" .
	mv "$out.tmp" "$out"
	rm -rf "$tmp"
}

cmd_install() {
	check_dir
	init_dir
	local deps=(--quiet)
	[[ $WANT_ARM64 == 0 ]] && deps+=(--no-arm64)
	"$HACK_DIR/install-deps.sh" "${deps[@]}"
	mkdir -p /run/sshd && chmod 0755 /run/sshd
	setup_binfmt
	mkdir -p "$CACHE_DIR" "$PKG_DIR" "$IMG_DIR"

	# Registry: Debian's docker-registry, extracted, never installed.
	if [[ ! -x $REGISTRY_BIN ]]; then
		local deb
		deb=$(fetch_deb docker-registry amd64) || die "cannot download docker-registry"
		rm -rf "$PKG_DIR/registry"
		dpkg-deb -x "$deb" "$PKG_DIR/registry"
		[[ -x $REGISTRY_BIN ]] || die "docker-registry binary missing after extracting $deb"
	fi

	# Base image root filesystems.
	if [[ ! -s $IMG_DIR/amd64.tar ]]; then
		make_rootfs amd64 /bin/busybox "$IMG_DIR/amd64.tar"
	fi
	if [[ ! -s $IMG_DIR/arm64.tar ]]; then
		local deb tmp
		deb=$(fetch_deb busybox-static arm64) || die "cannot download busybox-static:arm64"
		tmp=$(mktemp -d "$DIR/bb.XXXXXX")
		dpkg-deb -x "$deb" "$tmp"
		make_rootfs arm64 "$tmp/bin/busybox" "$IMG_DIR/arm64.tar"
		rm -rf "$tmp"
	fi

	# Optional arm64 node: podman:arm64 binary (its libraries are installed
	# as multiarch packages by install-deps.sh); conmon and runc are the
	# host's (amd64) ones - runc:arm64 under qemu cannot set up containers.
	if [[ $WANT_ARM64 != 0 && ! -x $ARM64_ROOT/usr/bin/podman ]]; then
		local deb
		if deb=$(fetch_deb podman arm64); then
			rm -rf "$ARM64_ROOT"
			dpkg-deb -x "$deb" "$ARM64_ROOT"
		else
			log "warning: cannot download podman:arm64, the arm64 node will be unavailable"
		fi
	fi
}

# ---------------------------------------------------------------------------
# sshd

SSH_DIR=$DIR/ssh
SSH_KEY=$SSH_DIR/id_ed25519
SSH_KH=$SSH_DIR/known_hosts
SSH_PIDFILE=$SSH_DIR/sshd.pid
SSH_CONF=$SSH_DIR/sshd_config

ssh_port() { cat "$SSH_DIR/port" 2>/dev/null || true; }

ssh_cmd() { # ssh_cmd ARGS...: ssh to the farm's sshd as root
	ssh -F /dev/null -i "$SSH_KEY" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o UserKnownHostsFile="$SSH_KH" -o GlobalKnownHostsFile=/dev/null \
		-o StrictHostKeyChecking=yes -o ConnectTimeout=5 -o LogLevel=ERROR \
		-p "$(ssh_port)" root@127.0.0.1 "$@"
}

# sshd_config PORT: the sshd configuration (stdout).
sshd_config() {
	cat <<EOF
# generated by hack/testfarm.sh
Port $1
ListenAddress 127.0.0.1
AddressFamily inet
HostKey $SSH_DIR/host_ed25519
PidFile $SSH_PIDFILE
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
UseDNS no
MaxStartups 200:30:400
MaxSessions 200
ClientAliveInterval 30
LogLevel INFO
Subsystem sftp internal-sftp
# For docker's own ssh helper (docker -H ssh://...), which runs
# "docker system dial-stdio" here: point it at the docker node.
SetEnv DOCKER_HOST=unix://$(node_sock docker)
EOF
}

start_sshd() {
	mkdir -p "$SSH_DIR" /run/sshd
	chmod 0700 "$SSH_DIR"
	[[ -f $SSH_DIR/host_ed25519 ]] ||
		ssh-keygen -q -t ed25519 -N '' -C farm-testfarm-host -f "$SSH_DIR/host_ed25519"
	[[ -f $SSH_KEY ]] ||
		ssh-keygen -q -t ed25519 -N '' -C farm-testfarm-client -f "$SSH_KEY"
	cp "$SSH_KEY.pub" "$SSH_DIR/authorized_keys"
	chmod 0600 "$SSH_DIR/authorized_keys"

	local port
	if running "$SSH_PIDFILE" "$SSH_CONF"; then
		port=$(ssh_port)
		# Keep a healthy sshd unless its configuration is outdated.
		if ! sshd_config "$port" | write_if_changed "$SSH_CONF" && ssh_cmd true 2>/dev/null; then
			return 0
		fi
		log "sshd: configuration changed or not answering, restarting"
	fi
	stop_pidfile sshd "$SSH_PIDFILE" "$SSH_CONF" 5

	port=$(pick_port "$SSH_DIR/port" "$SSH_PORT_FIRST")
	sshd_config "$port" >"$SSH_CONF"
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" >"$SSH_KH"
	/usr/sbin/sshd -t -f "$SSH_CONF" || die "sshd rejected $SSH_CONF"
	rm -f "$SSH_PIDFILE"
	log "starting sshd on 127.0.0.1:$port"
	# sshd daemonises by itself and writes PidFile.
	"${DAEMON_ENV[@]}" /usr/sbin/sshd -f "$SSH_CONF" -E "$SSH_DIR/sshd.log" </dev/null >>"$SSH_DIR/sshd.out" 2>&1 9>&- ||
		{
			tail -n 20 "$SSH_DIR/sshd.log" "$SSH_DIR/sshd.out" >&2
			die "sshd failed to start"
		}
	wait_ready sshd 20 "$SSH_PIDFILE" "$SSH_CONF" "$SSH_DIR/sshd.log" ssh_cmd true ||
		die "sshd did not come up"
}

stop_sshd() {
	stop_pidfile sshd "$SSH_PIDFILE" "$SSH_CONF" 5
}

# ---------------------------------------------------------------------------
# registry

REG_DIR=$DIR/registry
REG_PIDFILE=$REG_DIR/pid

reg_port() { cat "$REG_DIR/port" 2>/dev/null || true; }
reg_addr() { printf '127.0.0.1:%s' "$(reg_port)"; }
reg_ok() { curl -fsS -m 3 -o /dev/null "http://$(reg_addr)/v2/"; }

start_registry() {
	mkdir -p "$REG_DIR/data"
	if running "$REG_PIDFILE" "$REG_DIR/config.yml" && reg_ok 2>/dev/null; then
		return 0
	fi
	stop_pidfile registry "$REG_PIDFILE" "$REG_DIR/config.yml" 5
	local port
	port=$(pick_port "$REG_DIR/port" "$REG_PORT_FIRST")
	cat >"$REG_DIR/config.yml" <<EOF
# generated by hack/testfarm.sh
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
	log "starting registry on 127.0.0.1:$port"
	spawn "$REG_PIDFILE" "$REG_DIR/log" "$REGISTRY_BIN" serve "$REG_DIR/config.yml"
	wait_ready registry 30 "$REG_PIDFILE" "$REG_DIR/config.yml" "$REG_DIR/log" reg_ok ||
		die "registry did not come up"
}

stop_registry() {
	stop_pidfile registry "$REG_PIDFILE" "$REG_DIR/config.yml" 10
}

# ---------------------------------------------------------------------------
# Engines (nodes)

node_dir() { printf '%s/%s' "$DIR" "$1"; }
node_sock() { printf '%s/%s/node.sock' "$DIR" "$1"; }
node_pidfile() { printf '%s/%s/pid' "$DIR" "$1"; }
# node_marker: a string unique to the engine's command line.
node_marker() { node_sock "$1"; }
node_running() { running "$(node_pidfile "$1")" "$(node_marker "$1")"; }
node_ping() { curl -fsS -m 5 -o /dev/null --unix-socket "$(node_sock "$1")" http://d/_ping; }

valid_node() {
	local n
	for n in "${NODES[@]}"; do [[ $1 == "$n" ]] && return 0; done
	die "unknown node '$1' (want one of: ${NODES[*]})"
}

# write_if_changed FILE: replace FILE with stdin if different; status 0 if
# it changed.
write_if_changed() {
	local f=$1 tmp
	tmp=$(mktemp "$f.XXXXXX")
	cat >"$tmp"
	if [[ -f $f ]] && cmp -s "$tmp" "$f"; then
		rm -f "$tmp"
		return 1
	fi
	mv "$tmp" "$f"
}

# podman_configs NAME ARCH: (re)write the node's containers.conf and
# registries.conf; status 0 if something changed.
podman_configs() {
	local name=$1 arch=$2 nd changed=1
	nd=$(node_dir "$name")
	mkdir -p "$nd"/{root,run,tmp,net}
	local extra_containers='' extra_engine=''
	if [[ $arch == arm64 ]]; then
		# The container runtime is the host's runc (native amd64, started
		# by the host's conmon); container processes are arm64 and run via
		# binfmt.  An aarch64-only seccomp filter would block the x86-64
		# syscalls of qemu, hence unconfined.
		extra_containers='seccomp_profile = "unconfined"'
		extra_engine=$'conmon_path = ["/usr/bin/conmon"]\nhelper_binaries_dir = ["/usr/lib/podman"]'
	fi
	write_if_changed "$nd/containers.conf" <<EOF && changed=0
# generated by hack/testfarm.sh for node $name ($arch)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
netns = "host"
$extra_containers

[network]
network_backend = "cni"
network_config_dir = "$nd/net"
cni_plugin_dirs = ["/usr/lib/cni"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$nd/events.log"
lock_type = "file"
tmp_dir = "$nd/tmp"
static_dir = "$nd/root/libpod"
volume_path = "$nd/root/volumes"
image_copy_tmp_dir = "$nd/tmp"
$extra_engine

[engine.runtimes]
runc = ["/usr/bin/runc"]
EOF
	write_if_changed "$nd/registries.conf" <<EOF && changed=0
# generated by hack/testfarm.sh: no search registries (nothing outside is
# reachable); the farm's registry is plain HTTP.
unqualified-search-registries = []
short-name-mode = "permissive"

[[registry]]
location = "$(reg_addr)"
insecure = true
EOF
	return $changed
}

podman_bin() {
	if [[ $1 == arm64 ]]; then
		printf '%s' "$ARM64_ROOT/usr/bin/podman"
	else
		printf '/usr/bin/podman'
	fi
}

# premote NAME ARGS...: podman remote client against the node's socket.
premote() {
	local name=$1
	shift
	timeout 300 podman --url "unix://$(node_sock "$name")" "$@"
}

arm64_unavailable() { # record and log why the arm64 node is not there
	mkdir -p "$(node_dir arm64)"
	printf '%s\n' "$*" >"$(node_dir arm64)/unavailable"
	log "arm64 node unavailable: $*"
}

arm64_arch_ok() {
	[[ $(curl -fsS -m 20 --unix-socket "$(node_sock arm64)" http://d/v4.0.0/libpod/info | jq -r .host.arch) == arm64 ]]
}

start_podman_node() { # start_podman_node NAME ARCH
	local name=$1 arch=$2 nd sock pidfile marker bin
	nd=$(node_dir "$name")
	sock=$(node_sock "$name")
	pidfile=$(node_pidfile "$name")
	marker=$(node_marker "$name")
	bin=$(podman_bin "$arch")
	local changed=1
	podman_configs "$name" "$arch" && changed=0
	if node_running "$name"; then
		if ((changed == 0)); then
			log "$name: configuration changed, restarting"
			stop_node "$name"
		elif node_ping "$name" 2>/dev/null; then
			return 0
		else
			log "$name: running but not answering, restarting"
			stop_node "$name"
		fi
	fi
	rm -f "$sock"
	log "starting $name (podman, $arch)"
	spawn "$pidfile" "$nd/log" env \
		CONTAINERS_CONF="$nd/containers.conf" \
		CONTAINERS_REGISTRIES_CONF="$nd/registries.conf" \
		TMPDIR="$nd/tmp" \
		"$bin" --root "$nd/root" --runroot "$nd/run" --tmpdir "$nd/tmp" \
		system service --time=0 "unix://$sock"
	local secs=60
	# podman under qemu-user normally answers within seconds, but now and
	# then a forked child hangs at start-up: give up early and let the
	# caller try again.
	[[ $arch == arm64 ]] && secs=${FARM_TESTFARM_ARM64_WAIT:-45}
	wait_ready "$name" "$secs" "$pidfile" "$marker" "$nd/log" node_ping "$name" || return 1
	if [[ $arch == arm64 ]]; then
		wait_ready "$name (arch)" 60 "$pidfile" "$marker" "$nd/log" arm64_arch_ok || return 1
	fi
}

# Note: the seed_* and start_* functions run as the left side of `||`, where
# bash ignores `set -e`; every step therefore checks its own status.

# base_list_ok NAME: the node's localhost/base list has amd64 and arm64.
base_list_ok() {
	[[ $(premote "$1" manifest inspect localhost/base:latest 2>/dev/null |
		jq -r '[.manifests[].platform.architecture] | sort | join(",")' 2>/dev/null) == amd64,arm64 ]]
}

# seed_podman NAME: import the base images and create the base list.
seed_podman() {
	local name=$1 a
	for a in amd64 arm64; do
		if ! premote "$name" image exists "localhost/base-$a:latest"; then
			log "$name: importing localhost/base-$a"
			premote "$name" import --arch "$a" --os linux \
				--change 'CMD ["/bin/sh"]' \
				--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
				"$IMG_DIR/$a.tar" "localhost/base-$a:latest" >/dev/null || return 1
		fi
	done
	base_list_ok "$name" && return 0
	log "$name: creating manifest list localhost/base"
	if premote "$name" manifest exists localhost/base:latest; then
		premote "$name" manifest rm localhost/base:latest >/dev/null || return 1
	fi
	premote "$name" manifest create localhost/base:latest >/dev/null || return 1
	for a in amd64 arm64; do
		premote "$name" manifest add localhost/base:latest \
			"containers-storage:localhost/base-$a:latest" >/dev/null || return 1
	done
	base_list_ok "$name" || {
		log "$name: localhost/base is not an amd64+arm64 list after creating it"
		return 1
	}
}

# reg_has REPO: the registry has REPO:latest.
reg_has() {
	curl -fs -m 5 -o /dev/null -I \
		-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		-H 'Accept: application/vnd.oci.image.index.v1+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$(reg_addr)/v2/$1/manifests/latest"
}

# seed_registry NODE: push the base images from a podman node.
seed_registry() {
	local name=$1 reg a
	reg=$(reg_addr)
	for a in amd64 arm64; do
		if ! reg_has "base-$a"; then
			log "registry: pushing base-$a"
			premote "$name" push -q --tls-verify=false "localhost/base-$a:latest" \
				"docker://$reg/base-$a:latest" >/dev/null || return 1
		fi
	done
	if ! reg_has base; then
		log "registry: pushing manifest list base"
		premote "$name" manifest push -q --all --tls-verify=false localhost/base:latest \
			"docker://$reg/base:latest" >/dev/null || return 1
	fi
}

# --- docker node: dockerd + its own containerd

DK_DIR=$DIR/docker
CTD_SOCK=$DK_DIR/ctd.sock
CTD_PIDFILE=$DK_DIR/ctd.pid

ctd_ok() { ctr --address "$CTD_SOCK" version; }

start_docker_node() {
	local sock pidfile marker
	sock=$(node_sock docker)
	pidfile=$(node_pidfile docker)
	marker=$(node_marker docker)
	mkdir -p "$DK_DIR"/{data,exec,ctd-root,ctd-state,opt}
	if node_running docker && running "$CTD_PIDFILE" "$DK_DIR/containerd.toml"; then
		node_ping docker 2>/dev/null && return 0
		log "docker: running but not answering, restarting"
	fi
	stop_node docker

	cat >"$DK_DIR/containerd.toml" <<EOF
# generated by hack/testfarm.sh: containerd private to the docker node
version = 2
root = "$DK_DIR/ctd-root"
state = "$DK_DIR/ctd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "$CTD_SOCK"

[ttrpc]
  address = "$CTD_SOCK.ttrpc"

[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$DK_DIR/opt"
EOF
	cat >"$DK_DIR/daemon.json" <<EOF
{
  "log-level": "info",
  "shutdown-timeout": 3
}
EOF
	rm -f "$CTD_SOCK" "$CTD_SOCK.ttrpc" "$sock"
	log "starting docker (containerd + dockerd)"
	spawn "$CTD_PIDFILE" "$DK_DIR/ctd.log" containerd --config "$DK_DIR/containerd.toml"
	wait_ready containerd 30 "$CTD_PIDFILE" "$DK_DIR/containerd.toml" "$DK_DIR/ctd.log" ctd_ok || return 1
	spawn "$pidfile" "$DK_DIR/log" dockerd \
		--host "unix://$sock" \
		--config-file "$DK_DIR/daemon.json" \
		--data-root "$DK_DIR/data" \
		--exec-root "$DK_DIR/exec" \
		--pidfile "$DK_DIR/dockerd.pid" \
		--containerd "$CTD_SOCK" \
		--iptables=false --ip-forward=false --ip-masq=false \
		--bridge=none --userland-proxy=false \
		--exec-opt native.cgroupdriver=cgroupfs \
		--storage-driver overlay2
	wait_ready docker 60 "$pidfile" "$marker" "$DK_DIR/log" node_ping docker || return 1
}

seed_docker() {
	local dk=("$DOCKER_CLI" -H "unix://$(node_sock docker)")
	if ! "${dk[@]}" image inspect base:latest >/dev/null 2>&1; then
		log "docker: importing base:latest"
		timeout 120 "${dk[@]}" import \
			--change 'CMD ["/bin/sh"]' \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			"$IMG_DIR/amd64.tar" base:latest >/dev/null || return 1
	fi
	if ! "${dk[@]}" image inspect base-amd64:latest >/dev/null 2>&1; then
		"${dk[@]}" tag base:latest base-amd64:latest || return 1
	fi
}

# --- start/stop one node

start_node() { # start_node NAME: start + seed; status 1 on failure
	local name=$1
	case $name in
	podman1 | podman2)
		start_podman_node "$name" amd64 && seed_podman "$name"
		;;
	docker)
		start_docker_node && seed_docker
		;;
	arm64)
		rm -f "$(node_dir arm64)/unavailable"
		if [[ $WANT_ARM64 == 0 ]]; then
			arm64_unavailable "disabled by FARM_TESTFARM_ARM64=0"
			return 1
		fi
		if [[ ! -x $ARM64_ROOT/usr/bin/podman ]]; then
			arm64_unavailable "podman:arm64 not extracted (download failed?)"
			return 1
		fi
		local v
		if ! v=$(timeout 60 "$ARM64_ROOT/usr/bin/podman" --version 2>&1); then
			arm64_unavailable "podman:arm64 does not run under qemu: $v"
			return 1
		fi
		local attempt up=0
		for attempt in 1 2 3; do
			if start_podman_node arm64 arm64; then
				up=1
				break
			fi
			log "arm64: start attempt $attempt failed; stopping it and trying again"
			stop_node arm64
		done
		if ((up == 0)); then
			arm64_unavailable "the emulated podman service did not come up in 3 attempts (see $(node_dir arm64)/log)"
			return 1
		fi
		if ! seed_podman arm64; then
			arm64_unavailable "seeding base images failed (see $(node_dir arm64)/log)"
			return 1
		fi
		;;
	esac
}

# unmount_under PREFIX: unmount every mount point below PREFIX (which should
# end in /), deepest first.
unmount_under() {
	local m
	while read -r m; do
		[[ -n $m ]] || continue
		umount "$m" 2>/dev/null || umount -l "$m" || log "warning: cannot unmount $m"
	done < <(awk -v d="$1" 'index($5, d) == 1 && length($5) > length(d) { print length($5) " " $5 }' /proc/self/mountinfo |
		sort -rn | cut -d' ' -f2-)
}

# kill_leftovers WHAT PID...: terminate PIDs and their descendants.
kill_leftovers() {
	local what=$1 p all=() kids
	shift
	(($#)) || return 0
	log "killing $what: $*"
	for p in "$@"; do
		mapfile -t kids < <(descendants "$p")
		all+=("$p" "${kids[@]}")
	done
	terminate 5 "${all[@]}"
}

stop_node() { # stop_node NAME
	local name=$1 nd left
	nd=$(node_dir "$name")
	case $name in
	docker)
		stop_pidfile dockerd "$(node_pidfile docker)" "$(node_marker docker)" 30
		stop_pidfile containerd "$CTD_PIDFILE" "$DK_DIR/containerd.toml" 15
		# Shims of containers that outlived containerd.
		mapfile -t left < <(marked_procs "$CTD_SOCK" containerd-shim-runc-v2 containerd-shim)
		kill_leftovers "docker: leftover shims" "${left[@]}"
		;;
	*)
		# Stop running containers through the API first, so that podman
		# records them as exited and unmounts their storage.
		if node_running "$name" && node_ping "$name" 2>/dev/null; then
			local id ids
			ids=$(curl -fs -m 10 --unix-socket "$(node_sock "$name")" \
				http://d/v4.0.0/libpod/containers/json | jq -r '.[].Id' 2>/dev/null || true)
			for id in $ids; do
				log "$name: stopping container ${id:0:12}"
				curl -fs -m 60 -o /dev/null -X POST --unix-socket "$(node_sock "$name")" \
					"http://d/v4.0.0/libpod/containers/$id/stop?timeout=2" || true
			done
		fi
		stop_pidfile "$name" "$(node_pidfile "$name")" "$(node_marker "$name")" 20
		# Container monitors (conmon daemonises away from the service).
		mapfile -t left < <(marked_procs "$nd/" conmon)
		if ((${#left[@]})); then
			kill_leftovers "$name: leftover container monitors" "${left[@]}"
			# Their containers' mounts stay behind; drop them, and make
			# the next service start "refresh" container states as after
			# a reboot.
			unmount_under "$nd/root/overlay-containers/"
			unmount_under "$nd/root/overlay/"
			rm -f "$nd/tmp/alive"
		fi
		;;
	esac
	rm -f "$(node_sock "$name")"
}

# ---------------------------------------------------------------------------
# farm.env

node_pid_if_running() {
	if node_running "$1"; then read_pid "$(node_pidfile "$1")"; fi
	return 0
}

write_env() {
	local port kh key reg n up
	port=$(ssh_port)
	key=$SSH_KEY
	kh=$SSH_KH
	reg=$(reg_addr)
	# Only `export KEY="VALUE"` lines (no comments), rewritten only when
	# something changed.
	{
		printf 'export %s="%s"\n' \
			FARM_TEST_DIR "$DIR" \
			FARM_TEST_SSH_HOST 127.0.0.1 \
			FARM_TEST_SSH_PORT "$port" \
			FARM_TEST_SSH_USER root \
			FARM_TEST_IDENTITY "$key" \
			FARM_TEST_KNOWN_HOSTS "$kh" \
			FARM_TEST_REGISTRY "$reg"
		for n in "${NODES[@]}"; do
			up=$(tr '[:lower:]' '[:upper:]' <<<"$n")
			local uri sock
			sock=$(node_sock "$n")
			uri="ssh://root@127.0.0.1:$port$sock"
			if [[ $n == arm64 && -f $(node_dir arm64)/unavailable ]]; then
				uri='' sock=''
			fi
			printf 'export %s="%s"\n' \
				"FARM_TEST_${up}_URI" "$uri" \
				"FARM_TEST_${up}_SOCK" "$sock" \
				"FARM_TEST_${up}_PID" "$(node_pid_if_running "$n")"
		done
	} | write_if_changed "$ENV_FILE" || true
	chmod 0644 "$ENV_FILE"
}

# ---------------------------------------------------------------------------
# Commands

cmd_start() {
	local t0=$SECONDS
	take_lock
	cmd_install
	start_sshd
	start_registry
	local n
	for n in podman1 podman2 docker; do
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
	for n in arm64 podman1 podman2 docker; do stop_node "$n"; done
	stop_registry
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
	if ! { running "$SSH_PIDFILE" "$SSH_CONF" && running "$REG_PIDFILE" "$REG_DIR/config.yml"; }; then
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
	pid=$(read_pid "$REG_PIDFILE")
	state=down
	running "$REG_PIDFILE" "$REG_DIR/config.yml" && state=up
	printf '%-10s %-8s %-8s %s\n' registry "${pid:--}" "$state" "http://$(reg_addr)"
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
		running "$REG_PIDFILE" "$REG_DIR/config.yml"; then
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
