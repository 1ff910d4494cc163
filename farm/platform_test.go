package farm

import (
	"errors"
	"testing"
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
		p, err := ParsePlatform(tt.in)
		if err != nil {
			t.Errorf("ParsePlatform(%q): %v", tt.in, err)
			continue
		}
		if got := FormatPlatform(p); got != tt.want {
			t.Errorf("ParsePlatform(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParsePlatformErrors(t *testing.T) {
	for _, in := range []string{"", "linux/", "/amd64", "linux//amd64", "linux/amd64/v8/x", "linux/nosucharch", "win dows/amd64"} {
		if _, err := ParsePlatform(in); !errors.Is(err, ErrInvalidPlatform) {
			t.Errorf("ParsePlatform(%q) error = %v, want ErrInvalidPlatform", in, err)
		}
	}
}

func TestParsePlatformsDedupes(t *testing.T) {
	ps, err := ParsePlatforms("linux/arm64,linux/amd64,linux/arm64/v8")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || FormatPlatform(ps[0]) != "linux/arm64" || FormatPlatform(ps[1]) != "linux/amd64" {
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
		have, _ := ParsePlatform(tt.have)
		want, _ := ParsePlatform(tt.want)
		if got := PlatformSatisfies(have, want); got != tt.ok {
			t.Errorf("PlatformSatisfies(%s, %s) = %v, want %v", tt.have, tt.want, got, tt.ok)
		}
	}
}

func TestPlatformFromEngine(t *testing.T) {
	if got := FormatPlatform(PlatformFromEngine("linux", "x86_64", "")); got != "linux/amd64" {
		t.Errorf("x86_64 = %s", got)
	}
	if got := FormatPlatform(PlatformFromEngine("", "aarch64", "")); got != "linux/arm64" {
		t.Errorf("aarch64 = %s", got)
	}
}

func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64/v8", "arm", "", "linux//x", "windows/amd64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlatform(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPlatform) {
				t.Fatalf("error %v does not wrap ErrInvalidPlatform", err)
			}
			return
		}
		// A parsed platform must survive a round trip unchanged.
		again, err := ParsePlatform(FormatPlatform(p))
		if err != nil {
			t.Fatalf("reparsing %q (from %q): %v", FormatPlatform(p), s, err)
		}
		if FormatPlatform(again) != FormatPlatform(p) {
			t.Fatalf("round trip of %q: %q != %q", s, FormatPlatform(again), FormatPlatform(p))
		}
	})
}
