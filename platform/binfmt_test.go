package platform

import (
	"strings"
	"testing"
)

// Entries as the kernel prints them, from a Debian host with qemu-user-static.
const aarch64Entry = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

const armEntry = `enabled
interpreter /usr/libexec/qemu-binfmt/arm-binfmt-P
flags: POCF
offset 0
magic 7f454c4601010100000000000000000002002800
mask ffffffffffffff00fffffffffffffffffeffffff
`

const s390xEntry = `enabled
interpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P
flags: POCF
offset 0
magic 7f454c46020201000000000000000000000200
mask ffffffffffffff00fffffffffffffffffffeffff
`

const s390xFull = `enabled
interpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P
flags: POCF
offset 0
magic 7f454c4602020100000000000000000000020016
mask ffffffffffffff00fffffffffffffffffffeffff
`

func platformsString(t *testing.T, out string) string {
	t.Helper()
	var names []string
	for _, p := range ParseBinfmt([]byte(out)) {
		names = append(names, Format(p))
	}
	return strings.Join(names, ",")
}

func TestParseBinfmt(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"two entries", "status enabled\nentry qemu-aarch64\n" + aarch64Entry + "entry qemu-arm\n" + armEntry, "linux/arm/v7,linux/arm64"},
		{"big endian s390x", "status enabled\nentry qemu-s390x\n" + s390xFull, "linux/s390x"},
		{"truncated magic is skipped", "status enabled\nentry qemu-s390x\n" + s390xEntry, ""},
		{"globally disabled", "status disabled\nentry qemu-aarch64\n" + aarch64Entry, ""},
		{"entry disabled", "status enabled\nentry qemu-aarch64\n" + strings.Replace(aarch64Entry, "enabled", "disabled", 1), ""},
		{"no F flag", "status enabled\nentry qemu-aarch64\n" + strings.Replace(aarch64Entry, "POCF", "OC", 1), ""},
		{"not mounted", "", ""},
		{"duplicates", "status enabled\nentry a\n" + aarch64Entry + "entry b\n" + aarch64Entry, "linux/arm64"},
		{"not ELF", "status enabled\nentry x\nenabled\nflags: F\noffset 0\nmagic 4d5a\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := platformsString(t, tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseBinfmt(f *testing.F) {
	f.Add("status enabled\nentry qemu-aarch64\n" + aarch64Entry)
	f.Add("status enabled\nentry x\nmagic 7f454c46\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range ParseBinfmt([]byte(s)) {
			if p.OS != "linux" || p.Architecture == "" {
				t.Fatalf("bad platform %+v from %q", p, s)
			}
		}
	})
}
