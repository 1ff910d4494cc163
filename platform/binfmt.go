package platform

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BinfmtScript (a POSIX shell script) prints the binfmt_misc state of a host in the format that
// ParseBinfmt reads: a "status" line, then each entry's file after an
// "entry NAME" line.
const BinfmtScript = `d=/proc/sys/fs/binfmt_misc
[ -r "$d/status" ] || exit 0
echo "status $(cat "$d/status")"
for f in "$d"/*; do
  n=${f##*/}
  case "$n" in register|status) continue;; esac
  echo "entry $n"
  cat "$f" 2>/dev/null
done`

// elfMachine maps an ELF header's class (1: 32-bit, 2: 64-bit), byte order
// (1: little, 2: big endian) and e_machine to a platform.
type elfMachine struct {
	class, order byte
	machine      uint16
}

var elfPlatforms = map[elfMachine]ocispec.Platform{
	{1, 1, 3}:   {OS: "linux", Architecture: "386"},
	{2, 1, 62}:  {OS: "linux", Architecture: "amd64"},
	{1, 1, 40}:  {OS: "linux", Architecture: "arm", Variant: "v7"},
	{2, 1, 183}: {OS: "linux", Architecture: "arm64", Variant: "v8"},
	{2, 1, 21}:  {OS: "linux", Architecture: "ppc64le"},
	{2, 2, 21}:  {OS: "linux", Architecture: "ppc64"},
	{2, 2, 22}:  {OS: "linux", Architecture: "s390x"},
	{2, 1, 243}: {OS: "linux", Architecture: "riscv64"},
	{2, 1, 8}:   {OS: "linux", Architecture: "mips64le"},
	{2, 2, 8}:   {OS: "linux", Architecture: "mips64"},
	{1, 1, 8}:   {OS: "linux", Architecture: "mipsle"},
	{1, 2, 8}:   {OS: "linux", Architecture: "mips"},
	{2, 1, 258}: {OS: "linux", Architecture: "loong64"},
}

// ParseBinfmt reads the output of BinfmtScript and returns the platforms
// whose ELF binaries the kernel hands to an enabled interpreter registered
// with the F (fix-binary) flag, the only kind that works inside containers.
// The result is sorted and free of duplicates. Unreadable input yields no
// platforms rather than an error: emulation is then simply not available.
func ParseBinfmt(out []byte) []ocispec.Platform {
	type entry struct {
		enabled, fixBinary bool
		offset             string
		magic              []byte
	}
	var (
		globalOn = false
		entries  []*entry
		cur      *entry
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "status "):
			globalOn = strings.TrimPrefix(line, "status ") == "enabled"
		case strings.HasPrefix(line, "entry "):
			cur = &entry{}
			entries = append(entries, cur)
		case cur == nil:
		case line == "enabled":
			cur.enabled = true
		case strings.HasPrefix(line, "flags:"):
			cur.fixBinary = strings.Contains(strings.TrimPrefix(line, "flags:"), "F")
		case strings.HasPrefix(line, "offset "):
			cur.offset = strings.TrimPrefix(line, "offset ")
		case strings.HasPrefix(line, "magic "):
			cur.magic, _ = hex.DecodeString(strings.TrimPrefix(line, "magic "))
		}
	}
	if !globalOn {
		return nil
	}
	var found []ocispec.Platform
	for _, e := range entries {
		if !e.enabled || !e.fixBinary || e.offset != "0" {
			continue
		}
		if p, ok := elfPlatform(e.magic); ok {
			found = append(found, p)
		}
	}
	return Unique(found)
}

// elfPlatform decodes the platform from an ELF header prefix as found in a
// binfmt_misc magic.
func elfPlatform(magic []byte) (ocispec.Platform, bool) {
	if len(magic) < 20 || !bytes.Equal(magic[:4], []byte("\x7fELF")) {
		return ocispec.Platform{}, false
	}
	class, order := magic[4], magic[5]
	var machine uint16
	switch order {
	case 1:
		machine = binary.LittleEndian.Uint16(magic[18:20])
	case 2:
		machine = binary.BigEndian.Uint16(magic[18:20])
	default:
		return ocispec.Platform{}, false
	}
	p, ok := elfPlatforms[elfMachine{class, order, machine}]
	return p, ok
}
