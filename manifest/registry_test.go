package manifest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/types"
)

// storeWithImage returns a blob store into which a node pushed an arm64
// image under the tag "staging", and the image's manifest digest.
func storeWithImage(t *testing.T) (*BlobServer, digest.Digest) {
	t.Helper()
	s, err := NewBlobServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	cfg := `{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`
	config := digest.FromString(cfg)
	man := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		config.String() + `","size":` + strconv.Itoa(len(cfg)) + `},"layers":[]}`
	do := func(method, url, body string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %v %v", method, url, err, resp.Status)
		}
		resp.Body.Close()
	}
	_ = host
	do(http.MethodPost, srv.URL+"/v2/farm/store/blobs/uploads/?digest="+config.String(), cfg)
	do(http.MethodPut, srv.URL+"/v2/farm/store/manifests/staging", man)
	return s, digest.FromString(man)
}

func insecure(t *testing.T) *types.SystemContext {
	auth := t.TempDir() + "/auth.json"
	if err := os.WriteFile(auth, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue, AuthFilePath: auth}
}

func TestRegistryFromStorePushesByDigestAndTagsOnlyTheUsersTags(t *testing.T) {
	// The store holds an image a node pushed under a staging tag; the
	// registry is another blob server.
	store, d := storeWithImage(t)
	reg, err := NewBlobServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	staged := []Staged{{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, Node: "n1", Digest: d}}
	tags := []string{host + "/app:1", host + "/app:latest", host + "/other:1"}
	res, err := RegistryFromStore(context.Background(), store, staged, tags, PushOptions{System: insecure(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.References) != 3 || len(res.Manifests) != 1 || res.Manifests[0].Digest != d {
		t.Errorf("result = %+v", res)
	}
	for _, tag := range []string{"1", "latest"} {
		if raw, _, got, err := reg.Manifest(tag); err != nil || got.String() != res.Digest || len(raw) == 0 {
			t.Errorf("tag %s = %s, %v; want the index %s", tag, got, err, res.Digest)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(reg.dir, "manifests"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tag-") && e.Name() != "tag-1.json" && e.Name() != "tag-latest.json" {
			t.Errorf("the registry holds a tag the user did not give: %s", e.Name())
		}
	}
}
