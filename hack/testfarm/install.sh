# shellcheck shell=bash
# Sourced by hack/testfarm.sh: packages, binfmt emulators, extracted debs, base rootfs tarballs.

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

# The emulators the tests and the demo use: linux/arm64 and linux/arm/v7
# (and v6) on the amd64 nodes.
EMULATORS=(qemu-aarch64 qemu-arm)

# binfmt_ok NAME: the emulator's binfmt_misc entry is enabled with flag F.
binfmt_ok() {
	local entry=/proc/sys/fs/binfmt_misc/$1
	[[ -e $entry ]] && grep -qx enabled "$entry" && grep -q '^flags:.*F' "$entry"
}

# setup_binfmt registers every emulator in EMULATORS with binfmt_misc. A
# new machine has none registered: installing qemu-user-static with
# service starts suppressed registers nothing. Fails with one line naming
# the emulators it could not register.
setup_binfmt() {
	if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
			die "cannot mount binfmt_misc on /proc/sys/fs/binfmt_misc"
	fi
	local e entry failed=()
	for e in "${EMULATORS[@]}"; do
		binfmt_ok "$e" && continue
		entry=/proc/sys/fs/binfmt_misc/$e
		# An entry registered without F (fix binary) does not work inside
		# containers: drop it so update-binfmts registers Debian's (with F).
		if [[ -e $entry ]]; then
			log "re-registering $e binfmt with flag F"
			echo -1 >"$entry"
		fi
		log "registering the $e emulator with binfmt_misc"
		# Import Debian's format first: qemu-user-static's own import may
		# have been skipped (service starts suppressed, containers).
		update-binfmts --import "$e" >/dev/null 2>&1 || true
		update-binfmts --enable "$e" >/dev/null 2>&1 || true
		binfmt_ok "$e" || failed+=("$e")
	done
	((${#failed[@]} == 0)) ||
		die "could not register the emulators ${failed[*]} with binfmt_misc (update-binfmts --enable NAME; is qemu-user-static installed?)"
}

# Engines users run today, built from the Go module proxy (Debian 12 has
# none of them) once, and cached in the state directory.
PODMAN5_VERSION=5.8.6
PODMAN5_BIN=$CACHE_DIR/podman-$PODMAN5_VERSION
DOCKERD28_VERSION=28.5.2
DOCKERD28_BIN=$CACHE_DIR/dockerd-$DOCKERD28_VERSION
GO=${GO:-go}
command -v "$GO" >/dev/null || [[ ! -x /usr/local/go/bin/go ]] || GO=/usr/local/go/bin/go

# go_build WHAT LOG CMD...: run a build step, say where its log is when it fails.
go_build() {
	local what=$1 logf=$2
	shift 2
	if ! "$@" >>"$logf" 2>&1; then
		tail -n 15 "$logf" >&2
		die "building $what failed (log: $logf)"
	fi
}

# build_podman5: the full podman binary (server included), in a scratch
# module, with cgo (sqlite, netavark support) and no btrfs or gpgme.
build_podman5() {
	[[ -x $PODMAN5_BIN ]] && return 0
	local mod=$DIR/build/podman5 tags='exclude_graphdriver_btrfs containers_image_openpgp cni seccomp'
	local logf=$DIR/build/podman5.log
	log "building podman $PODMAN5_VERSION from the Go module proxy (a few minutes, once; log: $logf)"
	rm -rf "$mod" && mkdir -p "$mod"
	: >"$logf"
	go_build "podman $PODMAN5_VERSION" "$logf" sh -c "cd '$mod' && '$GO' mod init farm-testfarm/podman5"
	go_build "podman $PODMAN5_VERSION" "$logf" env -C "$mod" CGO_ENABLED=1 "$GO" get -tags "$tags" \
		"github.com/containers/podman/v5/cmd/podman@v$PODMAN5_VERSION"
	go_build "podman $PODMAN5_VERSION" "$logf" env -C "$mod" CGO_ENABLED=1 "$GO" build -tags "$tags" \
		-o "$PODMAN5_BIN.tmp" github.com/containers/podman/v5/cmd/podman
	mv "$PODMAN5_BIN.tmp" "$PODMAN5_BIN"
	rm -rf "$mod"
}

# build_dockerd28: dockerd from the docker/docker module, whose own
# dependencies are in vendor.mod (its vendor/ directory is a stub there).
build_dockerd28() {
	[[ -x $DOCKERD28_BIN ]] && return 0
	local src=$DIR/build/docker28 logf=$DIR/build/docker28.log moddir
	local mod=github.com/docker/docker@v$DOCKERD28_VERSION+incompatible
	local tags='netgo osusergo static_build exclude_graphdriver_btrfs exclude_graphdriver_devicemapper'
	log "building dockerd $DOCKERD28_VERSION from the Go module proxy (a few minutes, once; log: $logf)"
	mkdir -p "$DIR/build"
	: >"$logf"
	moddir=$(cd "$DIR/build" && GOFLAGS=-mod=mod "$GO" mod download -json "$mod" 2>>"$logf" | jq -r .Dir) ||
		die "downloading $mod failed (log: $logf)"
	[[ -d $moddir ]] || die "downloading $mod failed (log: $logf)"
	rm -rf "$src" && cp -r "$moddir" "$src" && chmod -R u+w "$src"
	rm -rf "$src/vendor"
	cp "$src/vendor.mod" "$src/go.mod"
	cp "$src/vendor.sum" "$src/go.sum"
	go_build "dockerd $DOCKERD28_VERSION" "$logf" env -C "$src" CGO_ENABLED=0 "$GO" build -mod=mod -tags "$tags" \
		-ldflags "-X github.com/docker/docker/dockerversion.Version=$DOCKERD28_VERSION -X github.com/docker/docker/dockerversion.GitCommit=farm-testfarm" \
		-o "$DOCKERD28_BIN.tmp" ./cmd/dockerd
	mv "$DOCKERD28_BIN.tmp" "$DOCKERD28_BIN"
	rm -rf "$src"
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

	build_podman5
	build_dockerd28

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
