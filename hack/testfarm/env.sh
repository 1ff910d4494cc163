# shellcheck shell=bash
# Sourced by hack/testfarm.sh: farm.env, the test farm's description for the tests.

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
			FARM_TEST_REGISTRY "$reg" \
			FARM_TEST_AUTH_REGISTRY "$(reg_addr authreg)" \
			FARM_TEST_AUTH_USER "$AUTHREG_USER" \
			FARM_TEST_AUTH_PASSWORD "$(authreg_password)"
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
	chmod 0600 "$ENV_FILE" # it holds the login registry's password
}
