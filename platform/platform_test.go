package platform

import (
	"errors"
	"testing"

	"github.com/farmbuild/farm/errdefs"
)

func TestParsePlatform(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"linux/amd64", "linux/amd64"},
		{"linux/arm64", "linux/arm64"},
		{"linux/arm64/v8", "linux/arm64"},
		{"linux/aarch64", "linux/arm64"},
		{"linux/x86_64", "linux/amd64"},
		{"linux/arm", "linux/arm/v7"},
		{"linux/armhf", "linux/arm/v7"},
		{"linux/arm/v6", "linux/arm/v6"},
		{"linux/amd64/v1", "linux/amd64"},
		{"linux/amd64/v3", "linux/amd64/v3"},
		{" linux/s390x ", "linux/s390x"},
		{"arm64", "linux/arm64"},
	}
	for _, tt := range tests {
		p, err := Parse(tt.in)
		if err != nil {
			t.Errorf("ParsePlatform(%q): %v", tt.in, err)
			continue
		}
		if got := Format(p); got != tt.want {
			t.Errorf("ParsePlatform(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParsePlatformErrors(t *testing.T) {
	for _, in := range []string{"", "linux/", "/amd64", "linux//amd64", "linux/amd64/v8/x", "linux/nosucharch", "win dows/amd64"} {
		if _, err := Parse(in); !errors.Is(err, errdefs.ErrInvalidPlatform) {
			t.Errorf("ParsePlatform(%q) error = %v, want ErrInvalidPlatform", in, err)
		}
	}
}

func TestParsePlatformsDedupes(t *testing.T) {
	ps, err := ParseList("linux/arm64,linux/amd64,linux/arm64/v8")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || Format(ps[0]) != "linux/arm64" || Format(ps[1]) != "linux/amd64" {
		t.Fatalf("ParsePlatforms = %v", ps)
	}
}

func TestPlatformSatisfies(t *testing.T) {
	tests := []struct {
		have, want string
		ok         bool
	}{
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/amd64", "linux/amd64/v1", true},
		{"linux/amd64/v3", "linux/amd64/v2", true},
		{"linux/amd64", "linux/amd64/v2", false},
		{"linux/amd64", "linux/386", false},
		{"linux/arm64", "linux/arm/v7", false},
		{"linux/arm/v7", "linux/arm/v6", true},
		{"linux/amd64", "linux/arm64", false},
	}
	for _, tt := range tests {
		have, _ := Parse(tt.have)
		want, _ := Parse(tt.want)
		if got := Satisfies(have, want); got != tt.ok {
			t.Errorf("PlatformSatisfies(%s, %s) = %v, want %v", tt.have, tt.want, got, tt.ok)
		}
	}
}

func TestPlatformFromEngine(t *testing.T) {
	if got := Format(FromEngine("linux", "x86_64", "")); got != "linux/amd64" {
		t.Errorf("x86_64 = %s", got)
	}
	if got := Format(FromEngine("", "aarch64", "")); got != "linux/arm64" {
		t.Errorf("aarch64 = %s", got)
	}
}

func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64/v8", "arm", "", "linux//x", "windows/amd64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidPlatform) {
				t.Fatalf("error %v does not wrap ErrInvalidPlatform", err)
			}
			return
		}
		// A parsed platform must survive a round trip unchanged.
		again, err := Parse(Format(p))
		if err != nil {
			t.Fatalf("reparsing %q (from %q): %v", Format(p), s, err)
		}
		if Format(again) != Format(p) {
			t.Fatalf("round trip of %q: %q != %q", s, Format(again), Format(p))
		}
	})
}
