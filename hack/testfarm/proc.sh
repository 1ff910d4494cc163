# shellcheck shell=bash
# Sourced by hack/testfarm.sh: the state directory and process helpers (everything by PID).

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
