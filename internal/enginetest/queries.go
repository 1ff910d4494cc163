package enginetest

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// BuildQueries serves a fake engine API and keeps the query of every
// build request: what the driver made of the request.
type BuildQueries struct {
	http.Handler
	mu      sync.Mutex
	queries []url.Values
}

// ServeHTTP records a build's query and hands the request on.
func (b *BuildQueries) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/build") {
		b.mu.Lock()
		b.queries = append(b.queries, r.URL.Query())
		b.mu.Unlock()
	}
	b.Handler.ServeHTTP(w, r)
}

// Queries returns the build queries so far.
func (b *BuildQueries) Queries() []url.Values {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]url.Values(nil), b.queries...)
}
