package manifest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/types"
)

// registryWithImage serves a registry (farm's own blob server) and a Push
// that puts an arm64 image into it, as a node would.
func registryWithImage(t *testing.T) (host string, push func(ctx context.Context, ref string) error, config digest.Digest) {
	t.Helper()
	s, err := NewBlobServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	cfg := `{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`
	config = digest.FromString(cfg)
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
	push = func(_ context.Context, ref string) error {
		repo, tag, _ := strings.Cut(strings.TrimPrefix(ref, host+"/"), ":")
		do(http.MethodPost, srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+config.String(), cfg)
		do(http.MethodPut, srv.URL+"/v2/"+repo+"/manifests/"+tag, man)
		return nil
	}
	return host, push, config
}

func insecure(t *testing.T) *types.SystemContext {
	auth := t.TempDir() + "/auth.json"
	if err := os.WriteFile(auth, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue, AuthFilePath: auth}
}

func TestToRegistryChecksWhatEachNodePushed(t *testing.T) {
	host, push, config := registryWithImage(t)
	arm64 := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	img := Image{Platform: arm64, Node: "n1", ImageID: config.String(), Push: push}
	res, err := ToRegistry(context.Background(), []Image{img}, []string{host + "/app:1"}, RegistryOptions{System: insecure(t), StagingTag: "staging"})
	if err != nil {
		t.Fatalf("the image the node built: %v", err)
	}
	if len(res.Manifests) != 1 || res.Manifests[0].Platform == nil || res.Manifests[0].Platform.Architecture != "arm64" || !strings.HasPrefix(res.Digest, "sha256:") {
		t.Errorf("result = %+v", res)
	}
	img.ImageID = digest.FromString("another image").String()
	_, err = ToRegistry(context.Background(), []Image{img}, []string{host + "/app:2"}, RegistryOptions{System: insecure(t), StagingTag: "staging2"})
	if err == nil || !strings.Contains(err.Error(), "not the image") {
		t.Errorf("a node that pushed something else must be caught: %v", err)
	}
}
