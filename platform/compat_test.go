package platform

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseCompat(t *testing.T) {
	amd64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	tests := []struct {
		native ocispec.Platform
		out    string
		want   string
	}{
		{amd64, "386\n", "linux/386"},
		{amd64, "", ""},
		{arm64, "arm\n", "linux/arm/v7"},
		{arm64, "", ""},      // an arm64 CPU without 32-bit mode
		{arm64, "386\n", ""}, // not a mode of this CPU
		{amd64, "arm\n386\n", "linux/386"},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range ParseCompat(tt.native, []byte(tt.out)) {
			got = append(got, Format(p))
		}
		if s := strings.Join(got, ","); s != tt.want {
			t.Errorf("ParseCompat(%s, %q) = %q, want %q", Format(tt.native), tt.out, s, tt.want)
		}
	}
	// arm/v7 also builds arm/v6.
	if !Satisfies(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}) {
		t.Error("arm/v7 must satisfy arm/v6")
	}
}
