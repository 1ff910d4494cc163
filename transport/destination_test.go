package transport

import (
	"errors"
	"strings"
	"testing"

	"github.com/farmbuild/farm/errdefs"
)

func TestParseDestination(t *testing.T) {
	tests := []struct {
		in   string
		want Destination
	}{
		{"ssh://root@10.0.0.5:22/run/podman/podman.sock", Destination{Scheme: "ssh", User: "root", Host: "10.0.0.5", Port: 22, Socket: "/run/podman/podman.sock"}},
		{"ssh://host", Destination{Scheme: "ssh", Host: "host"}},
		{"ssh://u@host/", Destination{Scheme: "ssh", User: "u", Host: "host"}},
		{"ssh://u@[::1]:2222/s.sock", Destination{Scheme: "ssh", User: "u", Host: "::1", Port: 2222, Socket: "/s.sock"}},
		{"unix:///run/podman/podman.sock", Destination{Scheme: "unix", Socket: "/run/podman/podman.sock"}},
	}
	for _, tt := range tests {
		got, err := ParseDestination(tt.in)
		if err != nil {
			t.Errorf("ParseDestination(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseDestination(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseDestinationErrors(t *testing.T) {
	for _, in := range []string{"", "host", "tcp://host:1", "ssh://", "ssh://u:pw@host", "ssh://host:0", "ssh://host:99999", "ssh://host:", "unix://relative", "unix:///", "ssh://h?x=1", "ssh://@host"} {
		if _, err := ParseDestination(in); !errors.Is(err, errdefs.ErrInvalidDestination) {
			t.Errorf("ParseDestination(%q) error = %v, want ErrInvalidDestination", in, err)
		}
	}
}

func TestDestinationString(t *testing.T) {
	for _, in := range []string{"ssh://root@127.0.0.1:42022/tmp/x/node.sock", "ssh://host", "unix:///run/x.sock", "ssh://u@[::1]:22/s"} {
		d, err := ParseDestination(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.String(); got != in {
			t.Errorf("String() = %q, want %q", got, in)
		}
	}
}

func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{"ssh://root@h:22/run/p.sock", "unix:///x", "ssh://[::1]:1/", "ssh://h:", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDestination(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidDestination) {
				t.Fatalf("error %v does not wrap ErrInvalidDestination", err)
			}
			return
		}
		again, err := ParseDestination(d.String())
		if err != nil {
			t.Fatalf("reparsing %q (from %q): %v", d.String(), s, err)
		}
		if again != d {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, d)
		}
	})
}

func TestParseDestinationHidesPasswords(t *testing.T) {
	_, err := ParseDestination("ssh://me:hunter2@host/x.sock")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the password must not be echoed: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"ssh://root:hunter2@h:22/run/podman.sock": "ssh://root:xxxxx@h:22/run/podman.sock",
		"ssh://root@h/run/podman.sock":            "ssh://root@h/run/podman.sock",
		"unix:///run/podman.sock":                 "unix:///run/podman.sock",
		"::not a uri":                             "::not a uri",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
