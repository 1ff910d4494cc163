package records

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// A build whose farm was killed is recorded as interrupted, keeping the
// platforms that ended before, so that prune learns their images; a build
// whose farm still runs, or cannot be told, stays running.
func TestBuildsOfDeadOwnersAreInterrupted(t *testing.T) {
	dir := t.TempDir()
	alive := func(o Owner) (bool, error) {
		if o.PID == 0 {
			return false, errors.New("unknown")
		}
		return o.PID == 1, nil
	}
	r, _, err := Open(dir, WithOwnerCheck(alive))
	must(t, err)
	defer r.Close()
	start := time.Now().Add(-time.Hour)
	must(t, r.Start(BuildRecord{ID: "live", Started: start, Owner: Owner{PID: 1, Start: 5, Host: "h"}}))
	must(t, r.Start(BuildRecord{ID: "legacy", Started: start}))
	must(t, r.Start(BuildRecord{ID: "dead", Started: start.Add(time.Minute), Owner: Owner{PID: 2, Start: 7, Host: "h"}}))
	for _, id := range []string{"live", "dead"} {
		must(t, r.RecordPlatform(id, PlatformRecord{Platform: "linux/amd64", Node: "n", ImageID: "sha256:img-" + id, NodeID: "n", ImageRef: "img-" + id, Seconds: 3}))
		must(t, r.RecordPlatform(id, PlatformRecord{Platform: "linux/arm64", Node: "n", Result: "running"}))
	}
	must(t, r.Log("dead", "linux/arm64", "STEP 1/2: FROM base"))
	lastWrite := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	must(t, os.Chtimes(r.LogFile("dead", "linux/arm64"), lastWrite, lastWrite))

	list, err := r.List()
	must(t, err)
	results := map[string]string{}
	for _, b := range list {
		results[b.ID] = b.Result
	}
	if results["live"] != "running" || results["legacy"] != "running" || results["dead"] != "interrupted" {
		t.Errorf("results = %v", results)
	}
	b, err := r.Get("dead")
	must(t, err)
	if b.ExitCode != 130 || b.Error == "" || !b.Finished.Equal(lastWrite) || b.Owner.PID != 2 {
		t.Errorf("interrupted build = %+v, want exit 130, an error, finished at the last log write %v", b, lastWrite)
	}
	if len(b.Platforms) != 2 || b.Platforms[0].Result != "success" || b.Platforms[0].ImageID != "sha256:img-dead" ||
		b.Platforms[1].Result != "interrupted" {
		t.Errorf("platforms = %+v", b.Platforms)
	}
	built, keep, err := r.PruneSets(false)
	must(t, err)
	if len(built["n"]) != 2 || keep["n"]["img-dead"] || !keep["n"]["img-live"] {
		t.Errorf("prune knows %v and keeps %v: want both images, keeping the running build's only", built["n"], keep["n"])
	}
	// Finish of a build the records took for interrupted still wins.
	must(t, r.Finish("dead", Outcome{Result: "success"}))
	if b, _ := r.Get("dead"); b.Result != "success" {
		t.Errorf("late finish: %+v", b)
	}
}

// Finish gives the platforms still running the build's result.
func TestFinishEndsRunningPlatforms(t *testing.T) {
	r, _, err := Open(t.TempDir())
	must(t, err)
	defer r.Close()
	must(t, r.Start(BuildRecord{ID: "b", Started: time.Now()}))
	must(t, r.RecordPlatform("b", PlatformRecord{Platform: "linux/arm64", Node: "n", Result: "running"}))
	must(t, r.Finish("b", Outcome{Result: "interrupted", ExitCode: 130}))
	if b, _ := r.Get("b"); len(b.Platforms) != 1 || b.Platforms[0].Result != "interrupted" {
		t.Errorf("platforms = %+v", b.Platforms)
	}
}

func TestOwnerAlive(t *testing.T) {
	self, err := ProcessOwner(os.Getpid())
	if err != nil {
		t.Fatalf("no /proc: %v", err)
	}
	if alive, err := OwnerAlive(self); err != nil || !alive {
		t.Errorf("this process: %v, %v", alive, err)
	}
	reused := self
	reused.Start++
	if alive, err := OwnerAlive(reused); err != nil || alive {
		t.Errorf("a PID another process reuses: %v, %v", alive, err)
	}
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	if alive, err := OwnerAlive(Owner{PID: child.Process.Pid, Start: self.Start, Host: self.Host}); err != nil || alive {
		t.Errorf("an exited process: %v, %v", alive, err)
	}
	if _, err := OwnerAlive(Owner{PID: self.PID, Start: self.Start, Host: "elsewhere"}); err == nil {
		t.Errorf("a process of another host cannot be told")
	}
	if _, err := OwnerAlive(Owner{}); err == nil {
		t.Errorf("a build recorded without its process cannot be told")
	}
}

func TestParseStatReadsOddCommandNames(t *testing.T) {
	fields := "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21"
	start, state, err := parseStat([]byte("77 (a) (b c) " + fields + "\n"))
	if err != nil || start != 424242 || state != 'S' {
		t.Errorf("parseStat = %d, %c, %v", start, state, err)
	}
	if _, _, err := parseStat([]byte("77 (x) S 1 2")); err == nil {
		t.Errorf("a short stat is an error")
	}
}

// The records default to the real check: a build recorded by a process
// that is gone is interrupted by the next reader.
func TestDefaultOwnerCheck(t *testing.T) {
	self, err := ProcessOwner(os.Getpid())
	if err != nil {
		t.Fatalf("no /proc: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "farm")
	r, _, err := Open(dir)
	must(t, err)
	defer r.Close()
	gone := self
	gone.Start++
	must(t, r.Start(BuildRecord{ID: "gone", Started: time.Now(), Owner: gone}))
	must(t, r.Start(BuildRecord{ID: "me", Started: time.Now(), Owner: self}))
	if b, _ := r.Get("gone"); b.Result != "interrupted" {
		t.Errorf("gone: %+v", b)
	}
	if b, _ := r.Get("me"); b.Result != "running" {
		t.Errorf("me: %+v", b)
	}
}
