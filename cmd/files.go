package cmd

// FileDoc is a file or directory farm reads or writes, as the man pages'
// FILES section lists it.
type FileDoc struct {
	// Path is the path, with the environment variables that move it.
	Path string
	// Default is the path when those variables are unset ("" when Path
	// is fixed).
	Default string
	// What says what farm keeps there.
	What string
}

// Files returns the files farm uses: its own (paths.go decides them) and
// those it shares with podman and OpenSSH.
func Files() []FileDoc {
	return []FileDoc{
		{"$XDG_STATE_HOME/farm/builds.db", "~/.local/state/farm/builds.db",
			"the build records farm history, farm inspect and farm logs read (SQLite)"},
		{"$XDG_STATE_HOME/farm/logs/ID/OS-ARCH.log", "~/.local/state/farm/logs/ID/OS-ARCH.log",
			"each platform's complete build log"},
		{"$XDG_CACHE_HOME/farm/store", "~/.cache/farm/store",
			"the blob store through which built images come back from the nodes"},
		{"$XDG_CONFIG_HOME/farm/nodes.json", "~/.config/farm/nodes.json",
			"node weights (farm connection update --weight), changed under the lock nodes.json.lock"},
		{"$PODMAN_CONNECTIONS_CONF", "~/.config/containers/podman-connections.json",
			"connections and farms, shared with podman (under $XDG_CONFIG_HOME/containers when set)"},
		{"$CONTAINERS_CONF", "/etc/containers/containers.conf, ~/.config/containers/containers.conf",
			"podman's configuration: its connections and farms are read, never written"},
		{"~/.ssh/config, /etc/ssh/ssh_config", "",
			"OpenSSH settings for the nodes' hosts (user, port, identity files, known hosts files)"},
		{"~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts", "",
			"the host keys nodes are checked against; farm never writes them"},
	}
}
