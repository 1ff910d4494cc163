# shellcheck shell=bash
# Sourced by hack/testfarm.sh: the node table, and starting and stopping one node.

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

# --- start/stop one node

start_node() { # start_node NAME: start + seed; status 1 on failure
	local name=$1
	case $name in
	podman1 | podman2 | podman5)
		start_podman_node "$name" && seed_podman "$name"
		;;
	docker | docker28 | docker28c)
		start_docker_node "$name" && seed_docker "$name"
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
			if start_podman_node arm64; then
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
	docker | docker28 | docker28c)
		stop_docker_node "$name"
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
