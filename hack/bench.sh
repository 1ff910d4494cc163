#!/usr/bin/env bash
# make bench: measures farm on the local test farm, each figure against a
# baseline measured side by side in the same run, and writes the results
# with the machine they ran on to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
farm=$repo/bin/farm
out=${BENCH_OUT:-$repo/docs/benchmarks.md}

hack/testfarm.sh start >/dev/null
# shellcheck disable=SC1090
. "$(hack/testfarm.sh env)"

work=$(mktemp -d /tmp/farm-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_CACHE_HOME=$work/home/.cache XDG_STATE_HOME=$work/home/.state
export CONTAINERS_CONF=$work/containers.conf SSH_AUTH_SOCK=
mkdir -p "$HOME/.ssh" && cp "$FARM_TEST_KNOWN_HOSTS" "$HOME/.ssh/known_hosts" && : >"$CONTAINERS_CONF"
"$farm" connection add --identity "$FARM_TEST_IDENTITY" p1 "$FARM_TEST_PODMAN1_URI" >/dev/null
"$farm" connection add --identity "$FARM_TEST_IDENTITY" p2 "$FARM_TEST_PODMAN2_URI" >/dev/null
"$farm" create two p1 p2 >/dev/null
"$farm" create one p1 >/dev/null

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
mib() { echo "$1 / 1048576" | bc -l | xargs printf '%.2f'; }
fetched() { jq -s '[.[] | select(.phase == "fetched") | .bytes] | add // 0' "$1"; }

echo "== 1. parallel farm build against the same builds one after another" >&2
mkdir -p "$work/cpu"
cat >"$work/cpu/Containerfile" <<'CF'
FROM base
ARG SEED
RUN i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; echo "$SEED $(uname -m)" > /done
CF
t0=$(now)
"$farm" build --farm two --progress plain --no-cache --build-arg SEED=$RANDOM --platforms linux/amd64,linux/arm64 --output type=oci,dest="$work/o1" -t cpu:1 "$work/cpu" >/dev/null 2>&1
t1=$(now)
"$farm" build --farm one --progress plain --no-cache --build-arg SEED=$RANDOM --platforms linux/amd64 --output type=oci,dest="$work/o2" -t cpu:1 "$work/cpu" >/dev/null 2>&1
"$farm" build --farm one --progress plain --no-cache --build-arg SEED=$RANDOM --platforms linux/arm64 --output type=oci,dest="$work/o3" -t cpu:1 "$work/cpu" >/dev/null 2>&1
t2=$(now)
farm_s=$(secs "$t0" "$t1")
serial_s=$(secs "$t1" "$t2")

echo "== 2. rebuild over a 40 MiB unchanged base" >&2
mkdir -p "$work/base" "$work/app"
head -c $((40 * 1048576)) /dev/urandom >"$work/base/blob.bin"
printf 'FROM base\nCOPY blob.bin /blob.bin\n' >"$work/base/Containerfile"
for sock in "$FARM_TEST_PODMAN1_SOCK" "$FARM_TEST_PODMAN2_SOCK"; do
	podman --url "unix://$sock" build -q -t localhost/bench-base "$work/base" >/dev/null
done
app() { printf 'FROM localhost/bench-base\nRUN echo %s > /changed\n' "$RANDOM$RANDOM" >"$work/app/Containerfile"; }
# local storage: a first build fills farm's store, the rebuild is measured
app
"$farm" build --farm one --progress json --platforms linux/amd64 -t localhost/farm-bench:1 "$work/app" >"$work/l1.json" 2>/dev/null
app
t0=$(now)
"$farm" build --farm one --progress json --platforms linux/amd64 -t localhost/farm-bench:2 "$work/app" >"$work/l2.json" 2>/dev/null
t1=$(now)
local_bytes=$(fetched "$work/l2.json")
local_s=$(secs "$t0" "$t1")
first_bytes=$(fetched "$work/l1.json")
# baseline: the same rebuilt image exported whole and loaded (podman save | podman load)
img=$(jq -r 'select(.type == "result") | .result.platforms[0].imageID' "$work/l2.json")
t0=$(now)
podman --url "unix://$FARM_TEST_PODMAN1_SOCK" save "$img" | tee "$work/save.tar" | podman load -q >/dev/null
t1=$(now)
save_bytes=$(stat -c %s "$work/save.tar")
save_s=$(secs "$t0" "$t1")
podman manifest rm localhost/farm-bench:1 localhost/farm-bench:2 >/dev/null 2>&1 || true
# --push: registry storage growth for a first push and for a rebuild
regsize() { du -sb "$FARM_TEST_DIR/registry/data" | cut -f1; }
app
r0=$(regsize)
"$farm" build --farm one --progress plain --push --tls-verify=false --platforms linux/amd64 -t "$FARM_TEST_REGISTRY/farm-bench:$RANDOM" "$work/app" >/dev/null 2>&1
r1=$(regsize)
app
t0=$(now)
"$farm" build --farm one --progress plain --push --tls-verify=false --platforms linux/amd64 -t "$FARM_TEST_REGISTRY/farm-bench:$RANDOM" "$work/app" >/dev/null 2>&1
t1=$(now)
r2=$(regsize)
push_first=$((r1 - r0))
push_bytes=$((r2 - r1))
push_s=$(secs "$t0" "$t1")

echo "== 4. a cached one-platform build on farms of 1 to 16 nodes" >&2
# Aliases of the two podman 4 nodes make the larger farms; each farm's
# first build learns the nodes' facts, then the median of three cached
# builds is measured.
for i in $(seq 1 16); do
	uri=$FARM_TEST_PODMAN1_URI
	[ $((i % 2)) -eq 0 ] && uri=$FARM_TEST_PODMAN2_URI
	"$farm" connection add --identity "$FARM_TEST_IDENTITY" "n$i" "$uri" >/dev/null
done
"$farm" connection add gone-refused "ssh://root@127.0.0.1:1/run/podman/podman.sock" >/dev/null
"$farm" connection add --identity "$FARM_TEST_IDENTITY" gone-nosock "${FARM_TEST_PODMAN1_URI%/*}/nonexistent.sock" >/dev/null
mkdir -p "$work/tiny"
printf 'FROM scratch\nCOPY Containerfile /\n' >"$work/tiny/Containerfile"
cached_build() { # farm -> median seconds of three cached builds
	"$farm" build --farm "$1" --progress plain --platforms linux/amd64 --output type=oci,dest="$work/tiny-$1-0" -t tiny:1 "$work/tiny" >/dev/null 2>&1
	for k in 1 2 3; do
		t0=$(now)
		"$farm" build --farm "$1" --progress plain --platforms linux/amd64 --output type=oci,dest="$work/tiny-$1-$k" -t tiny:1 "$work/tiny" >/dev/null 2>&1
		t1=$(now)
		secs "$t0" "$t1"
		echo
	done | sort -n | sed -n 2p
}
for size in 1 4 8 16; do
	# shellcheck disable=SC2046
	"$farm" create "f$size" $(seq -f 'n%g' 1 "$size") >/dev/null
done
cached_1=$(cached_build f1)
cached_4=$(cached_build f4)
cached_8=$(cached_build f8)
cached_16=$(cached_build f16)
"$farm" create f4dead n1 n2 n3 n4 gone-refused gone-nosock >/dev/null
cached_dead=$(cached_build f4dead)

echo "== 5. farm bake of a base and two images FROM it, against three farm builds one after another" >&2
# One context for the three targets: a 4 MiB file the base copies, and a
# seed changed before each run so that nothing is cached.
bk=$work/bake
mkdir -p "$bk"
head -c $((4 * 1048576)) /dev/urandom >"$bk/data.bin"
printf 'FROM base\nCOPY seed.txt data.bin /base/\nRUN uname -m > /base/arch\n' >"$bk/base.Containerfile"
for t in a b; do
	printf 'FROM stem\nCOPY seed.txt /%s.txt\nRUN cat /base/arch > /%s.arch\n' "$t" "$t" >"$bk/$t.Containerfile"
done
cat >"$bk/docker-bake.hcl" <<'HCL'
group "default" { targets = ["a", "b"] }
target "_p" { platforms = ["linux/amd64", "linux/arm64"] }
target "base" {
  inherits = ["_p"]
  dockerfile = "base.Containerfile"
}
target "a" {
  inherits = ["_p"]
  contexts = { stem = "target:base" }
  dockerfile = "a.Containerfile"
  tags = ["bench-a:1"]
}
target "b" {
  inherits = ["_p"]
  contexts = { stem = "target:base" }
  dockerfile = "b.Containerfile"
  tags = ["bench-b:1"]
}
HCL
# sent LOG -> the bytes of every "sent the build context" line
sent() { grep -o 'sent the build context ([^)]*) for [^:]*: [0-9.]*[KMG]*i*B' "$1" | awk '{v=$NF; m=1; if (v ~ /KiB$/) m=1024; else if (v ~ /MiB$/) m=1048576; else if (v ~ /GiB$/) m=1073741824; sub(/[KMG]?i?B$/, "", v); s+=v*m} END {printf "%d", s}'; }
(cd "$bk" && "$farm" bake --farm two --dry-run >/dev/null 2>&1) # the nodes' facts, for both runs
echo "$RANDOM$RANDOM" >"$bk/seed.txt"
t0=$(now)
(cd "$bk" && "$farm" bake --farm two --progress plain --output type=oci,dest="$work/bake-out") >"$work/bake.log" 2>&1
t1=$(now)
echo "$RANDOM$RANDOM" >"$bk/seed.txt"
btag=$FARM_TEST_REGISTRY/bench-base:$RANDOM
t2=$(now)
{
	"$farm" build --farm two --progress plain --platforms linux/amd64,linux/arm64 --push --tls-verify=false -f "$bk/base.Containerfile" -t "$btag" "$bk"
	for t in a b; do
		sed "s|^FROM stem|FROM $btag|" "$bk/$t.Containerfile" >"$work/$t.Containerfile"
		"$farm" build --farm two --progress plain --platforms linux/amd64,linux/arm64 --tls-verify=false -f "$work/$t.Containerfile" --output type=oci,dest="$work/serial-$t" -t "bench-$t:1" "$bk"
	done
} >"$work/serial.log" 2>&1
t3=$(now)
bake_s=$(secs "$t0" "$t1")
bake_serial_s=$(secs "$t2" "$t3")
bake_bytes=$(sent "$work/bake.log")
bake_serial_bytes=$(sent "$work/serial.log")

echo "== 3. scheduler on 200 nodes" >&2
sched=$(cd "$repo" && go test -run '^$' -bench BenchmarkAssign200x12 -benchtime 200x ./schedule | grep '^BenchmarkAssign')
sched_ns=$(echo "$sched" | awk '{print $3}')
sched_ratio=$(echo "$sched" | awk '{for (i=1;i<=NF;i++) if ($i=="makespan/lowerbound") print $(i-1)}')

cpu=$(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')
cat >"$out" <<MD
# Benchmarks

Made by \`make bench\` (hack/bench.sh) on $(date -u +%Y-%m-%d): $(nproc) CPUs ($cpu),
$(free -g | awk '/Mem:/ {print $2}') GiB memory, $(uname -sr), $(go version | awk '{print $3}'),
podman $(podman --version | awk '{print $3}') nodes of the local test farm (\`hack/testfarm.sh\`), reached
over SSH on loopback. Every figure is compared with a baseline measured in the
same run. The nodes share this machine's CPUs, so parallel builds compete for
the same cores: on separate machines the first ratio grows. The nodes are
reached over loopback, where bytes cost almost nothing, so times here favour
moving whole images; over a real network the bytes in 2a and 2b decide.

| # | measurement | farm | baseline | ratio |
| --- | --- | --- | --- | --- |
| 1 | 2-platform build (linux/amd64 native, linux/arm64 emulated, CPU-bound RUN) on 2 nodes, against the same two builds one after another on one node | ${farm_s} s | ${serial_s} s | ${serial_s}/${farm_s} = $(ratio "$serial_s" "$farm_s")x faster |
| 2a | rebuild over a 40 MiB unchanged base into local storage: bytes from node to client | $(mib "$local_bytes") MiB in ${local_s} s (first build: $(mib "$first_bytes") MiB) | podman save \| podman load of the same image: $(mib "$save_bytes") MiB in ${save_s} s | $(ratio "$save_bytes" "$((local_bytes > 0 ? local_bytes : 1))")x fewer bytes |
| 2b | the same rebuild with \`--push\`: bytes the registry receives (the client pushes from its store, with its own credentials) | $(mib "$push_bytes") MiB in ${push_s} s | first push of the image: $(mib "$push_first") MiB | $(ratio "$push_first" "$((push_bytes > 0 ? push_bytes : 1))")x fewer bytes |
| 4a | a cached one-platform build (COPY-only, into an OCI layout) on farms of 4, 8 and 16 nodes, against the same build on a 1-node farm (median of 3) | 4: ${cached_4} s, 8: ${cached_8} s, 16: ${cached_16} s | 1 node: ${cached_1} s | 16 nodes: $(ratio "$cached_16" "$cached_1")x the 1-node time (goal ≤ 1.2) |
| 4b | the same build on the 4-node farm plus one node that refuses connections and one whose engine socket is missing | ${cached_dead} s | the 4-node farm: ${cached_4} s | $(ratio "$cached_dead" "$cached_4")x (goal ≤ 1.1) |
| 5 | \`farm bake\` of a base and two images \`FROM\` it (\`target:\` contexts, COPY + a small RUN), each for linux/amd64 and linux/arm64 (emulated), on 2 nodes, against the same three \`farm build\`s one after another (the base pushed to the test registry, the two others \`FROM\` it) | ${bake_s} s, build contexts sent: $(mib "$bake_bytes") MiB | ${bake_serial_s} s, build contexts sent: $(mib "$bake_serial_bytes") MiB | $(ratio "$bake_serial_s" "$bake_s")x faster |
| 3 | scheduler, simulated farm of 200 nodes and 12 platforms (\`BenchmarkAssign200x12\`) | ${sched_ns} ns per plan | makespan against a lower bound no schedule can beat | ${sched_ratio} (1.00 is optimal) |

How each is measured:

1. Wall time of \`farm build --no-cache\` for both platforms on a farm of two
   podman nodes, against \`farm build\` of each platform in turn on one node.
2. A first \`farm build\` fills farm's blob store; then the top layer changes
   and the rebuild is measured. (a) Bytes are those the node pushed into the
   client's store over SSH (\`fetched\` events of \`--progress json\`); the
   baseline exports the rebuilt image whole with \`podman save\` and loads it.
   (b) Bytes are the growth of the registry's storage directory.
4. The larger farms are aliases (n1 … n16) of the two podman 4 nodes. Each
   farm's first build learns the nodes' facts (kept in the records for an
   hour); the cached builds then contact only the node the plan uses. In 4b
   the two dead nodes failed on the first build and are left alone after.
5. One plan for the whole bake: the base's two platforms on the two nodes,
   each dependent platform on the node holding its base's image, the two
   dependents at the same time. Context bytes are the sum of the nodes'
   "sent the build context" lines (each node build sends the whole context
   until podman nodes keep contexts between builds).
3. \`go test -bench BenchmarkAssign200x12 ./schedule\`; the lower bound is the
   longer of the longest job's fastest finish and all work spread evenly over
   all nodes.
MD
echo "wrote $out" >&2
cat "$out"
