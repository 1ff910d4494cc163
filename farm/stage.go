package farm

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/manifest"
)

// stagePortBase is where the ports the nodes push to start; each node gets
// a stable one (its name hashed into stagePortSpan) so that its engine's
// blob-info cache recognizes the store on the next build and skips the
// layers it already pushed there.
const (
	stagePortBase = 41000
	stagePortSpan = 800
)

// stager brings built images into the client's blob store: each node
// pushes to the store's registry over a reverse SSH forward, so only the
// blobs the store lacks cross the network.
type stager struct {
	server *manifest.BlobServer
	// user and password are this run's login to the store's forwards.
	user, password string
	// dir is the store's directory, max its bound (StoreMax).
	dir string
	max int64
	// compression is how the nodes compress the layers they push.
	compression engine.Compression
	mu          sync.Mutex
	nodes       map[string]*stageNode
}

type stageNode struct {
	addr     string
	ln       net.Listener
	received atomic.Int64
	busy     sync.Mutex // one image at a time per node, so bytes add up per image
}

// newStager opens the store in dir for a run whose nodes push their
// layers compressed as c says. When c asks for gzip only, the store hides
// its zstd copies of layers from the nodes, so that a node that would
// reuse a layer in any format (podman before 4.7) sends it in gzip.
func newStager(dir string, max int64, c engine.Compression) (*stager, error) {
	if dir == "" {
		return nil, errors.New("no blob store directory (BuildOptions.StoreDir)")
	}
	srv, err := manifest.NewBlobServer(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the blob store %s: %w", dir, err)
	}
	srv.HideZstd = c.Only && c.Format == "gzip"
	return &stager{server: srv, user: "farm", password: randomID() + randomID() + randomID() + randomID(), nodes: map[string]*stageNode{},
		dir: dir, max: max, compression: c}, nil
}

// node returns the node's forward, listening on first use.
func (s *stager) node(n *Node) (*stageNode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sn, ok := s.nodes[n.Name]; ok {
		return sn, nil
	}
	h := fnv.New32a()
	h.Write([]byte(n.Name))
	first := stagePortBase + int(h.Sum32()%stagePortSpan)
	var errs []error
	for p := first; p < first+8; p++ {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		ln, err := n.Conn.ListenRemote(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sn := &stageNode{addr: addr, ln: ln}
		counted := &countingListener{Listener: ln, n: &sn.received}
		// Anyone on the node can reach the forward: it takes only this
		// run's login, which only the node's engine is given.
		go func() { _ = http.Serve(counted, manifest.RequireLogin(s.server, s.user, s.password)) }()
		s.nodes[n.Name] = sn
		return sn, nil
	}
	return nil, errors.Join(errs...)
}

// stage has node n push image id into the store under tag and returns the
// manifest's digest and the bytes that crossed the network.
func (s *stager) stage(ctx context.Context, n *Node, id, tag string) (digest.Digest, int64, error) {
	sn, err := s.node(n)
	if err != nil {
		return "", 0, err
	}
	sn.busy.Lock()
	defer sn.busy.Unlock()
	before := sn.received.Load()
	no := false
	if err := n.Builder.Push(ctx, id, sn.addr+"/farm/store:"+tag, engine.PushOptions{TLSVerify: &no, Username: s.user, Password: s.password,
		Compression: s.compression}); err != nil {
		return "", 0, err
	}
	raw, _, d, err := s.server.Manifest(tag)
	if err != nil {
		return "", 0, fmt.Errorf("the store did not receive %s: %w", tag, err)
	}
	// The manifest must describe the image this node built.
	if !manifest.IsImage(raw, d, id) {
		return "", 0, fmt.Errorf("%s pushed manifest %s, not the image %s it built", n.Name, d, id)
	}
	return d, sn.received.Load() - before, nil
}

func (s *stager) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sn := range s.nodes {
		sn.ln.Close()
	}
	_ = s.server.Close()
	if s.max > 0 {
		// Busy (another build uses the store) is no failure: the next
		// build prunes it.
		_, _ = manifest.PruneStore(s.dir, s.max)
	}
}

// countingListener counts the bytes read from its connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}
