package engine

import (
	"strings"
	"testing"
)

func TestInstructionsFlags(t *testing.T) {
	no := false
	for _, tc := range []struct {
		in   Instructions
		want string
	}{
		{Instructions{}, ""},
		{Instructions{Network: "host", Pull: "always"}, ""},
		{Instructions{Network: "buildnet", Pull: "false"}, "--network NAME --pull=never"},
		{Instructions{Squash: true, Layers: &no, MemorySwap: -1}, "--layers=false --squash --memory-swap=-1"},
		{Instructions{IdentityLabel: &no, Retry: new(int)}, "--retry --identity-label=false"},
	} {
		if got := strings.Join(tc.in.Flags(), " "); got != tc.want {
			t.Errorf("%+v: Flags = %q, want %q", tc.in, got, tc.want)
		}
	}
	r := Refusal{Flag: "--squash", Why: "cannot squash", Fix: "drop it or build on podman nodes"}
	if got := r.Message("docker", "d1"); got != "--squash: docker node d1 cannot squash: drop it or build on podman nodes" {
		t.Errorf("Message = %q", got)
	}
}
