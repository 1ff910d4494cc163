package records

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Another farm holding the database locked makes Open fail after the busy
// timeout; the database is not taken for damaged and stays where it is.
func TestLockedDatabaseIsNotSetAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "farm")
	r, _, err := Open(dir)
	must(t, err)
	must(t, r.Start(BuildRecord{ID: "kept", Started: time.Now()}))
	must(t, r.Close())

	defer func(d time.Duration) { busyTimeout = d }(busyTimeout)
	busyTimeout = 200 * time.Millisecond
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "builds.db"))
	must(t, err)
	defer other.Close()
	other.SetMaxOpenConns(1)
	_, err = other.Exec(`BEGIN EXCLUSIVE`)
	must(t, err)
	r, warning, err := Open(dir)
	if err == nil {
		r.Close()
		t.Fatalf("a locked database opened")
	}
	if !strings.Contains(err.Error(), "locked") || warning != "" {
		t.Errorf("error = %v, warning = %q", err, warning)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "builds.db.damaged-*")); len(aside) != 0 {
		t.Fatalf("a locked database was moved aside: %v", aside)
	}
	_, err = other.Exec(`COMMIT`)
	must(t, err)
	r, warning, err = Open(dir)
	must(t, err)
	defer r.Close()
	if _, err := r.Get("kept"); err != nil || warning != "" {
		t.Errorf("the records after the lock: %v, %q", err, warning)
	}
}

// oldSchema is the records of a farm from before the platforms' node IDs,
// image names and the builds' owners were kept.
const oldSchema = `
CREATE TABLE builds (
  id TEXT PRIMARY KEY, started INTEGER NOT NULL, finished INTEGER, user TEXT, args TEXT,
  farm TEXT, result TEXT NOT NULL, exit_code INTEGER, error TEXT, index_digest TEXT, output TEXT);
CREATE TABLE platforms (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE, platform TEXT NOT NULL,
  node TEXT, emulated INTEGER, image_id TEXT, digest TEXT, base_digests TEXT, seconds REAL,
  attempts INTEGER, result TEXT, error TEXT, log TEXT, intermediate TEXT, PRIMARY KEY (build_id, platform));
INSERT INTO platforms (build_id, platform, node, emulated, image_id, seconds, attempts, result, log)
  VALUES ('old', 'linux/amd64', 'n', 0, 'sha256:old', 1, 1, 'success', '/l');`

// Older records gain the new columns, lose their build-argument values
// (in the file too), and the node IDs and image names round-trip.
func TestOlderRecordsAreMigrated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "farm")
	must(t, os.MkdirAll(dir, 0o700))
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "builds.db"))
	must(t, err)
	_, err = db.Exec(oldSchema)
	must(t, err)
	// A long value takes overflow pages, which an update frees but leaves
	// as they are.
	big := strings.Repeat("hunter2-", 1000)
	_, err = db.Exec(`INSERT INTO builds (id, started, args, result) VALUES ('old', 1, ?, 'success')`,
		`["build","--build-arg=TOKEN=hunter2-secret","--build-arg=BIG=`+big+`","--build-arg=PLAIN","/ctx"]`)
	must(t, err)
	must(t, db.Close())

	r, warning, err := Open(dir)
	must(t, err)
	defer r.Close()
	if warning != "" {
		t.Errorf("warning: %s", warning)
	}
	old, err := r.Get("old")
	must(t, err)
	if want := []string{"build", "--build-arg=TOKEN=<redacted>", "--build-arg=BIG=<redacted>", "--build-arg=PLAIN", "/ctx"}; strings.Join(old.Args, " ") != strings.Join(want, " ") {
		t.Errorf("old args = %q, want %q", old.Args, want)
	}
	if len(old.Platforms) != 1 || old.Platforms[0].ImageID != "sha256:old" || old.Platforms[0].NodeID != "" {
		t.Errorf("old platforms = %+v", old.Platforms)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "builds.db")); strings.Contains(string(data), "hunter2") {
		t.Errorf("the old value is still in the database file")
	}

	must(t, r.Start(BuildRecord{ID: "new", Started: time.Now()}))
	must(t, r.RecordPlatform("new", PlatformRecord{Platform: "linux/arm64", Node: "a", NodeID: "SHA256:key unix:///s", ImageRef: "localhost/farm-new:arm64", ImageID: "sha256:a"}))
	must(t, r.Finish("new", Outcome{Result: "success", Platforms: []PlatformRecord{
		{Platform: "linux/amd64", Node: "b", NodeID: "SHA256:keyb unix:///s", ImageRef: "localhost/farm-new:amd64", ImageID: "sha256:b",
			Engine: "podman", EngineVersion: "5.8.6"}}}))
	b, err := r.Get("new")
	must(t, err)
	if len(b.Platforms) != 2 || b.Platforms[0].NodeID != "SHA256:keyb unix:///s" || b.Platforms[0].ImageRef != "localhost/farm-new:amd64" ||
		b.Platforms[1].NodeID != "SHA256:key unix:///s" || b.Platforms[1].ImageRef != "localhost/farm-new:arm64" || b.Platforms[1].Result != "success" ||
		b.Platforms[0].Engine != "podman" || b.Platforms[0].EngineVersion != "5.8.6" {
		t.Errorf("platforms = %+v", b.Platforms)
	}
	data, _ := json.Marshal(b)
	if !strings.Contains(string(data), `"nodeID":"SHA256:keyb unix:///s"`) || !strings.Contains(string(data), `"imageRef":"localhost/farm-new:amd64"`) {
		t.Errorf("JSON: %s", data)
	}
	if data, _ := json.Marshal(old); strings.Contains(string(data), "nodeID") || strings.Contains(string(data), "imageRef") {
		t.Errorf("empty node ID and image name are left out: %s", data)
	}
	// A second open migrates nothing again.
	r2, warning, err := Open(dir)
	must(t, err)
	r2.Close()
	if warning != "" {
		t.Errorf("second open: %s", warning)
	}
}

func TestRedactArgs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"--build-arg=TOKEN=s3cret", "--build-arg=TOKEN=<redacted>"},
		{"--build-arg TOKEN=s3cret", "--build-arg TOKEN=<redacted>"},
		{"--build-arg=A=b=c", "--build-arg=A=<redacted>"},
		{"--build-arg=FROM_ENV", "--build-arg=FROM_ENV"},
		{"--build-arg FROM_ENV", "--build-arg FROM_ENV"},
		{"--build-arg=E=", "--build-arg=E=<redacted>"},
		{"--build-arg-file=args.env", "--build-arg-file=args.env"},
		{"--secret=id=tok,src=/run/tok", "--secret=id=tok,src=/run/tok"},
		{"--label=src=https://bob:pw@git.example/r.git", "--label=src=https://bob:xxxxx@git.example/r.git"},
		{"ssh://root:toor@host:22/run/podman.sock", "ssh://root:xxxxx@host:22/run/podman.sock"},
		{"ssh://root@host/run/podman.sock", "ssh://root@host/run/podman.sock"},
		{"build --platforms=linux/amd64 .", "build --platforms=linux/amd64 ."},
	} {
		if got := strings.Join(RedactArgs(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("RedactArgs(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// Start never keeps a build argument's value.
func TestStartRedactsArgs(t *testing.T) {
	r, _, err := Open(t.TempDir())
	must(t, err)
	defer r.Close()
	must(t, r.Start(BuildRecord{ID: "b", Started: time.Now(), Args: []string{"build", "--build-arg=TOKEN=s3cret", "--build-arg", "K=v"}}))
	b, err := r.Get("b")
	must(t, err)
	if strings.Contains(strings.Join(b.Args, " "), "s3cret") || strings.Contains(strings.Join(b.Args, " "), "=v") {
		t.Errorf("args = %q", b.Args)
	}
}
