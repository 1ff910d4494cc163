package farm

import (
	"testing"

	"github.com/farmbuild/farm/engine"
)

// What a registry or an OCI layout receives is gzip, and only gzip;
// local storage takes zstd (any copy will do), and gzip when the images
// are docker's, whose manifests cannot name zstd layers.
func TestLayerCompressionByPath(t *testing.T) {
	if standardCompression != (engine.Compression{Format: "gzip", Only: true}) {
		t.Errorf("registries and layouts get %+v, want gzip only at its default level", standardCompression)
	}
	for format, want := range map[string]string{"": "zstd", "oci": "zstd", "docker": "gzip"} {
		if c := localCompression(format); c.Format != want || c.Only {
			t.Errorf("local delivery with --format %q: %+v, want %s, any copy accepted", format, c, want)
		}
	}
}
