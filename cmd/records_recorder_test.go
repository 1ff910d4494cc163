package cmd

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/records"
)

// testRecorder records build id in the isolated state directory.
func testRecorder(t *testing.T, id string) (*buildRecorder, *records.Records) {
	t.Helper()
	rec, _, err := openRecordsIn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(records.BuildRecord{ID: id, Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return &buildRecorder{rec: rec, id: id, logger: slog.New(slog.DiscardHandler), building: map[string]farm.Event{}}, rec
}

// A platform's row is written as soon as it ends: a farm killed before
// the build finishes leaves it in the records.
func TestRecorderWritesPlatformRowsAsTheyEnd(t *testing.T) {
	isolate(t)
	r, rec := testRecorder(t, "b1")
	defer rec.Close()
	start := time.Now()
	r.event(farm.Event{Time: start, Type: "phase", Phase: "building", Platform: "linux/amd64", Node: "p1", Attempt: 1})
	r.event(farm.Event{Time: start, Type: "phase", Phase: "building", Platform: "linux/arm64", Node: "p2", Emulated: true, Attempt: 2})
	r.event(farm.Event{Time: start, Type: "log", Platform: "linux/amd64", Node: "p1", Line: "STEP 1/1: FROM scratch"})
	r.event(farm.Event{Time: start.Add(3 * time.Second), Type: "phase", Phase: "done", Platform: "linux/amd64", Node: "p1"})

	b, err := rec.Get("b1") // no Finish: the farm was killed here
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Platforms) != 2 {
		t.Fatalf("platforms = %+v", b.Platforms)
	}
	amd, arm := b.Platforms[0], b.Platforms[1]
	if amd.Result != "success" || amd.Node != "p1" || amd.Attempts != 1 || amd.Seconds != 3 {
		t.Errorf("the platform that ended: %+v", amd)
	}
	if arm.Result != "running" || arm.Node != "p2" || !arm.Emulated || arm.Attempts != 2 {
		t.Errorf("the platform still building: %+v", arm)
	}
	r.event(farm.Event{Time: start.Add(5 * time.Second), Type: "phase", Phase: "failed", Platform: "linux/arm64", Node: "p2", Error: "exit status 1"})
	if b, _ := rec.Get("b1"); b.Platforms[1].Result != "failed" || b.Platforms[1].Error != "exit status 1" {
		t.Errorf("the platform that failed: %+v", b.Platforms[1])
	}
}

// A log that cannot be written stops the log, not the recording of the
// outcome: the build does not stay running.
func TestRecorderFinishesWhenTheLogFails(t *testing.T) {
	isolate(t)
	r, _ := testRecorder(t, "b2") // finish closes the records
	state, err := stateDir()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(state, "logs", "b2"), "in the way of the log directory")
	r.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Line: "a line"})
	r.finish(&farm.BuildResult{}, nil)
	rec, _, err := openRecordsIn()
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if b, err := rec.Get("b2"); err != nil || b.Result != "success" {
		t.Errorf("record: %+v, %v", b, err)
	}
}

// farm logs --follow ends when the farm running the build is gone.
func TestLogsFollowEndsWhenTheFarmIsGone(t *testing.T) {
	isolate(t)
	self, err := records.ProcessOwner(os.Getpid())
	if err != nil {
		t.Fatalf("no /proc: %v", err)
	}
	gone := self
	gone.Start++ // another process has the PID now
	rec, _, err := openRecordsIn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Start(records.BuildRecord{ID: "killed", Started: time.Now(), Owner: gone}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Log("killed", "linux/amd64", "STEP 1/2: FROM base"); err != nil {
		t.Fatal(err)
	}
	rec.Close()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, _, err := farmCLI(t, "logs", "--follow", "--platform", "linux/amd64", "killed")
		done <- result{out, err}
	}()
	select {
	case res := <-done:
		if res.err != nil || !strings.Contains(res.out, "STEP 1/2") {
			t.Errorf("logs --follow: %v\n%s", res.err, res.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("farm logs --follow still follows a build whose farm is gone")
	}
	var b records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "inspect", "killed")), &b); err != nil || b.Result != "interrupted" || b.ExitCode != exitInterrupted {
		t.Errorf("inspect: %v, %+v", err, b)
	}
}

// A build records its process, and no value of a build argument.
func TestBuildRecordsItsOwnerAndNoBuildArgValues(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	_, _, err := farmCLIWith(t, fakeOpener, "build", "--platforms", "linux/amd64", "--build-arg", "TOKEN=s3cret-one",
		"--build-arg=OTHER=s3cret-two", "--build-arg", "FROM_ENV", "--output", "type=oci,dest="+t.TempDir()+"/l", "-t", "x:1", dir)
	if ExitCode(err) != exitOutput { // the fake's archive is not an image
		t.Fatalf("build: %v", err)
	}
	out := mustCLI(t, "history", "--format", "json")
	if strings.Contains(out, "s3cret") {
		t.Errorf("a build argument's value is recorded:\n%s", out)
	}
	var builds []records.BuildRecord
	if err := json.Unmarshal([]byte(out), &builds); err != nil || len(builds) != 1 {
		t.Fatalf("history: %v\n%s", err, out)
	}
	args := strings.Join(builds[0].Args, " ")
	for _, want := range []string{"--build-arg=TOKEN=<redacted>", "--build-arg=OTHER=<redacted>", "--build-arg=FROM_ENV"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if _, err := records.ProcessOwner(os.Getpid()); err == nil && builds[0].Owner.PID != os.Getpid() {
		t.Errorf("owner = %+v, want this process", builds[0].Owner)
	}
}
