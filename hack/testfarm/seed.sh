# shellcheck shell=bash
# Sourced by hack/testfarm.sh: base images on the engines and in the registries.

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
