package podman

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/internal/enginetest"
)

// buildQuery builds req on a fake podman and returns the build's query.
func buildQuery(t *testing.T, in engine.Instructions) url.Values {
	t.Helper()
	f := &fakePodman{images: map[string]string{}, lists: map[string][]string{}, tags: map[string]string{}}
	b := &enginetest.BuildQueries{Handler: f}
	e, err := New(context.Background(), enginetest.NewLink(t, "pm", b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	req := enginetest.Request(t, nil, enginetest.AMD64)
	req.Instructions = in
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(b.Queries()) != 1 {
		t.Fatalf("%d build calls", len(b.Queries()))
	}
	return b.Queries()[0]
}

// Each of podman's build flags farm takes becomes the query parameter
// podman's own client sends for it.
func TestPodmanSendsPodmansBuildFlags(t *testing.T) {
	no, retry := false, 5
	sde, ts := time.Unix(1700000000, 0), time.Unix(1600000000, 0)
	q := buildQuery(t, engine.Instructions{
		KeepContainers: true, KeepFailedContainers: true, ShmSize: 128 << 20, Ulimits: []string{"nofile=1024:2048"},
		Memory: 1 << 30, MemorySwap: 2 << 30, CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000,
		CPUSetCPUs: "0-1", CPUSetMems: "0", CgroupParent: "farm.slice",
		CacheFrom: []string{"registry.example/cache"}, CacheTo: []string{"registry.example/cache"},
		AddHosts: []string{"db:10.0.0.1"}, Network: "buildnet", SquashAll: true,
		Env: []string{"A=1"}, UnsetEnv: []string{"PATH"}, Volumes: []string{"/srv/data:/data:ro"},
		SecurityOpts: []string{"label=disable", "seccomp=/etc/farm/seccomp.json", "apparmor=unconfined"},
		CapAdd:       []string{"SYS_ADMIN"}, CapDrop: []string{"NET_RAW"},
		DNSServers: []string{"10.0.0.53"}, DNSOptions: []string{"ndots:1"}, DNSSearch: []string{"example.com"},
		BuildContexts: map[string]string{"base": "docker-image://registry.example/base:1", "src": "https://example.com/src.tar"},
		Retry:         &retry, RetryDelay: 3 * time.Second, SourceDateEpoch: &sde, Timestamp: &ts, IdentityLabel: &no,
	})
	for param, want := range map[string]string{
		"rm": "0", "forcerm": "", "shmsize": "134217728", "ulimits": `["nofile=1024:2048"]`,
		"memory": "1073741824", "memswap": "2147483648", "cpushares": "512", "cpuquota": "50000", "cpuperiod": "100000",
		"cpusetcpus": "0-1", "cpusetmems": "0", "cgroupparent": "farm.slice",
		"cachefrom": `["registry.example/cache"]`, "cacheto": `["registry.example/cache"]`,
		"squash": "1", "layers": "", "setenv": "A=1", "unsetenv": "PATH", "volume": "/srv/data:/data:ro",
		"labelopts": `["disable"]`, "seccomp": "/etc/farm/seccomp.json", "apparmor": "unconfined",
		"addcaps": `["SYS_ADMIN"]`, "dropcaps": `["NET_RAW"]`,
		"dnsservers": `["10.0.0.53"]`, "dnsoptions": `["ndots:1"]`, "dnssearch": `["example.com"]`,
		"retry": "5", "retry-delay": "3s", "sourcedateepoch": "1700000000", "timestamp": "1600000000",
		"identitylabel": "0", "jobs": "1",
	} {
		if got := q.Get(param); got != want {
			t.Errorf("%s = %q, want %q", param, got, want)
		}
	}
	if hosts := q.Get("extrahosts"); !strings.Contains(hosts, `"db:10.0.0.1"`) || !strings.Contains(hosts, `"farm-`) {
		t.Errorf("extrahosts %s: the user's entry and farm's marker", hosts)
	}
	if ns := q.Get("nsoptions"); !strings.Contains(ns, `"Path":"buildnet"`) {
		t.Errorf("nsoptions %s: the named network", ns)
	}
	contexts := strings.Join(q["additionalbuildcontexts"], " ")
	if !strings.Contains(contexts, "base=image:registry.example/base:1") || !strings.Contains(contexts, "src=url:https://example.com/src.tar") {
		t.Errorf("additionalbuildcontexts %q", contexts)
	}
}

// Without flags, the build is what it was: layers cached, containers
// removed, podman's own pull retries.
func TestPodmanBuildDefaults(t *testing.T) {
	q := buildQuery(t, engine.Instructions{})
	for param, want := range map[string]string{
		"rm": "1", "forcerm": "1", "layers": "1", "squash": "", "retry": "3", "retry-delay": "2s", "jobs": "1",
		"identitylabel": "", "sourcedateepoch": "", "timestamp": "", "shmsize": "",
	} {
		if got := q.Get(param); got != want {
			t.Errorf("%s = %q, want %q", param, got, want)
		}
	}
	// --squash squashes the new layers: podman's client turns layers off.
	if q := buildQuery(t, engine.Instructions{Squash: true}); q.Get("squash") != "" || q.Get("layers") != "" {
		t.Errorf("--squash: squash=%q layers=%q", q.Get("squash"), q.Get("layers"))
	}
	yes := true
	if q := buildQuery(t, engine.Instructions{SquashAll: true, Layers: &yes}); q.Get("squash") != "1" || q.Get("layers") != "1" {
		t.Errorf("--squash-all --layers: squash=%q layers=%q", q.Get("squash"), q.Get("layers"))
	}
}

// A podman too old for a flag refuses it, naming its version: its API
// would ignore it.
func TestPodmanRefusesWhatItsVersionIgnores(t *testing.T) {
	in := engine.Instructions{Volumes: []string{"/a:/b"}, SourceDateEpoch: new(time.Time)}
	e := &Engine{}
	rs := e.Unsupported(engine.EngineInfo{Version: "4.3.1"}, in)
	if len(rs) != 2 || rs[0].Message(Kind, "p4") != "--volume: podman node p4 runs podman 4.3.1, whose build API does not take --volume (podman 4.4.0 and later do): drop it or build on newer podman nodes" || rs[1].Flag != "--source-date-epoch" {
		t.Errorf("podman 4.3.1: %+v", rs)
	}
	if rs := e.Unsupported(engine.EngineInfo{Version: "5.6.0"}, in); len(rs) != 0 {
		t.Errorf("podman 5.6.0 takes both: %+v", rs)
	}
	if rs := e.Unsupported(engine.EngineInfo{Version: "5.8.6"}, engine.Instructions{MemorySwap: -1}); len(rs) != 1 || rs[0].Flag != "--memory-swap=-1" {
		t.Errorf("unlimited swap cannot be sent: %+v", rs)
	}
}

// The table names only flags engine.Instructions.Flags reports.
func TestPodmanFlagTableNamesKnownFlags(t *testing.T) {
	known := map[string]bool{}
	for _, f := range engine.KnownFlags() {
		known[f] = true
	}
	for f := range since {
		if !known[f] {
			t.Errorf("since names %s, which Flags never reports", f)
		}
	}
	for f := range never {
		if !known[f] {
			t.Errorf("never names %s, which Flags never reports", f)
		}
	}
}
