// Package records keeps farm's build history: who built what where, how
// each platform ended and its complete log. The records own their row
// types; the caller says where they live.
package records

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Records is farm's build history: an embedded SQLite database (pure Go)
// and one complete log file per platform, in the directory the caller
// gives (farm uses $XDG_STATE_HOME/farm). Recording never makes a build
// fail.
type Records struct {
	db  *sql.DB
	dir string
	mu  sync.Mutex
	// logs are the open log files of builds in progress.
	logs map[string]*os.File
	// alive tells whether a build's owner still runs.
	alive func(Owner) (bool, error)
}

// BuildRecord is one recorded build.
type BuildRecord struct {
	ID       string    `json:"id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	User     string    `json:"user"`
	// Args is the command line; Start keeps no build-argument values and
	// no passwords of URIs (see RedactArgs).
	Args []string `json:"args"`
	Farm string   `json:"farm"`
	// Tags are the names the build gave its result (-t), read from Args.
	Tags []string `json:"tags"`
	// Output is where the result went: "push", "oci" or "local".
	Output    string           `json:"output,omitempty"`
	Result    string           `json:"result"` // running, success, failed, interrupted
	ExitCode  int              `json:"exitCode"`
	Error     string           `json:"error,omitempty"`
	Index     string           `json:"index,omitempty"`
	Platforms []PlatformRecord `json:"platforms,omitempty"`
	// BakeID is the farm bake run the build was a target of, Target
	// that target's name; both empty for farm build.
	BakeID string `json:"bakeID,omitempty"`
	Target string `json:"target,omitempty"`
	// Owner is the process running the build: a running build whose owner
	// is gone is recorded as interrupted.
	Owner Owner `json:"owner,omitzero"`
}

// PlatformRecord is one platform of a recorded build.
type PlatformRecord struct {
	Platform string `json:"platform"`
	Node     string `json:"node"`
	// NodeID identifies the node itself (host key fingerprint and socket),
	// whatever its connection is called now.
	NodeID   string `json:"nodeID,omitempty"`
	Emulated bool   `json:"emulated"`
	ImageID  string `json:"imageID,omitempty"`
	// ImageRef is the name farm gave the image on the node.
	ImageRef string `json:"imageRef,omitempty"`
	Digest   string `json:"digest,omitempty"`
	// BaseDigests maps each FROM image to the manifest digest this
	// platform was built from: UnknownDigest when farm did not resolve it
	// (without --pin-base the node resolves the tag itself).
	BaseDigests map[string]string `json:"baseDigests,omitempty"`
	// Engine and EngineVersion are the kind ("podman", "docker") and
	// version of the engine that built it; empty in records of older farms.
	Engine        string  `json:"engine"`
	EngineVersion string  `json:"engineVersion"`
	Seconds       float64 `json:"durationSeconds"`
	Attempts      int     `json:"attempts"`
	// Result is "running", "success", "failed" or "interrupted".
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	Log    string `json:"log"`
	// Intermediate are the layer images the build created on the node.
	Intermediate []string `json:"intermediate,omitempty"`
}

// Close closes the database and any open log.
func (r *Records) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.logs {
		f.Close()
	}
	return r.db.Close()
}

// Start records a build that begins, with its arguments redacted.
func (r *Records) Start(b BuildRecord) error {
	args, _ := json.Marshal(RedactArgs(b.Args))
	_, err := r.db.Exec(`INSERT INTO builds (id, started, user, args, farm, output, result, owner_pid, owner_start, owner_host, bake_id, target)
		VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, NULLIF(?, ''), NULLIF(?, ''))`,
		b.ID, b.Started.UnixMilli(), b.User, string(args), b.Farm, b.Output, b.Owner.PID, int64(b.Owner.Start), b.Owner.Host, b.BakeID, b.Target)
	return err
}

// logPath is the log file of one platform of a build.
func (r *Records) logPath(id, platform string) string {
	return filepath.Join(r.dir, "logs", id, strings.ReplaceAll(platform, "/", "-")+".log")
}

// Log appends a line to a platform's log file.
func (r *Records) Log(id, platform, line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := id + " " + platform
	f, ok := r.logs[key]
	if !ok {
		path := r.logPath(id, platform)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		var err error
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return err
		}
		r.logs[key] = f
	}
	_, err := f.WriteString(line + "\n")
	return err
}
