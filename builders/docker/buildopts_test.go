package docker

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/internal/enginetest"
)

// buildWith builds one amd64 platform with in on a fake docker (API 1.41:
// BuildKit) and returns the build calls' queries and the error.
func buildWith(t *testing.T, in engine.Instructions) ([]url.Values, error) {
	t.Helper()
	b := &enginetest.BuildQueries{Handler: &fakeDocker{tags: map[string]string{}, images: map[string]string{}}}
	e, err := New(context.Background(), enginetest.NewLink(t, "dk", b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	req := enginetest.Request(t, nil, enginetest.AMD64)
	req.Instructions = in
	_, err = e.Build(context.Background(), req)
	return b.Queries(), err
}

// The flags docker honours become the query parameters docker's own
// client sends.
func TestDockerSendsBuildFlags(t *testing.T) {
	qs, err := buildWith(t, engine.Instructions{ShmSize: 128 << 20, Ulimits: []string{"nofile=1024:2048", "nproc=-1"},
		AddHosts: []string{"db:10.0.0.1"}, CacheFrom: []string{"registry.example/cache"}, Pull: "newer", Network: "host"})
	if err != nil || len(qs) != 1 {
		t.Fatalf("Build: %v (%d calls)", err, len(qs))
	}
	for param, want := range map[string]string{
		"shmsize": "134217728", "ulimits": `[{"Name":"nofile","Hard":2048,"Soft":1024},{"Name":"nproc","Hard":-1,"Soft":-1}]`,
		"extrahosts": "db:10.0.0.1", "cachefrom": `["registry.example/cache"]`, "pull": "1", "networkmode": "host",
		"rm": "", "forcerm": "1",
	} {
		if got := qs[0].Get(param); got != want {
			t.Errorf("%s = %q, want %q", param, got, want)
		}
	}
}

// The classic builder takes the resource limits BuildKit ignores, and
// keeps containers when asked.
func TestDockerClassicBuildOptions(t *testing.T) {
	in := engine.Instructions{Memory: 1 << 30, MemorySwap: -1, CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000,
		CPUSetCPUs: "0-1", CPUSetMems: "0", CgroupParent: "farm.slice", KeepContainers: true, Network: "buildnet"}
	if rs := refusals(false, in); len(rs) != 0 {
		t.Errorf("the classic builder honours them: %+v", rs)
	}
	o, err := buildOptions(engine.NodeBuild{Instructions: in}, enginetest.AMD64, nil, "hold", "Dockerfile")
	if err != nil || o.Memory != 1<<30 || o.MemorySwap != -1 || o.CPUShares != 512 || o.CPUQuota != 50000 || o.CPUPeriod != 100000 ||
		o.CPUSetCPUs != "0-1" || o.CPUSetMems != "0" || o.CgroupParent != "farm.slice" || o.Remove || !o.ForceRemove || o.NetworkMode != "buildnet" {
		t.Errorf("buildOptions = %+v, %v", o, err)
	}
}

// What docker cannot honour fails every platform before anything is
// sent, as a usage error naming the flag and the node.
func TestDockerRefusesWhatItCannotHonour(t *testing.T) {
	for _, tc := range []struct {
		in   engine.Instructions
		want string
	}{
		{engine.Instructions{Squash: true}, "--squash: docker node dk cannot squash: drop it or build on podman nodes"},
		{engine.Instructions{Memory: 1 << 30}, "--memory: docker node dk builds with BuildKit, which ignores --memory: drop it or build on podman nodes"},
		{engine.Instructions{Network: "buildnet"}, "--network NAME: docker node dk builds with BuildKit, which takes only host or none"},
		{engine.Instructions{Pull: "never"}, "--pull=never: docker node dk has no never-pull policy"},
		{engine.Instructions{Secrets: []string{"id=a,src=/a"}}, "--secret: docker node dk needs a BuildKit session"},
		{engine.Instructions{Annotations: []string{"a=b"}}, "--annotation: docker node dk cannot annotate images"},
		{engine.Instructions{Env: []string{"A=1"}}, "use ENV in the Containerfile, or build on podman nodes"},
	} {
		qs, err := buildWith(t, tc.in)
		var be *errdefs.BuildError
		if !errors.Is(err, errdefs.ErrUsage) || !errors.As(err, &be) || !strings.Contains(err.Error(), tc.want) || len(qs) != 0 {
			t.Errorf("%v (%d builds), want a usage error with %q", err, len(qs), tc.want)
		}
	}
	no := false
	if rs := refusals(true, engine.Instructions{IdentityLabel: &no, ShmSize: 1, Network: "none"}); len(rs) != 0 {
		t.Errorf("docker adds no identity label and takes --shm-size and --network none: %+v", rs)
	}
}

// The table names only flags engine.Instructions.Flags reports.
func TestDockerFlagTableNamesKnownFlags(t *testing.T) {
	known := map[string]bool{}
	for _, f := range engine.KnownFlags() {
		known[f] = true
	}
	for f := range unsupported {
		if !known[f] {
			t.Errorf("unsupported names %s, which Flags never reports", f)
		}
	}
}
