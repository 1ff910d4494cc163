package cmd

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/records"
)

// farm logs --follow ID streams every platform's lines as they come and
// ends when the build ends.
func TestLogsFollowStreamsEveryPlatform(t *testing.T) {
	isolate(t)
	self, err := records.ProcessOwner(os.Getpid())
	if err != nil {
		t.Fatalf("no /proc: %v", err)
	}
	rec, _, err := openRecordsIn()
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rec.Start(records.BuildRecord{ID: "b1", Started: time.Now(), Owner: self}))
	must(rec.RecordPlatform("b1", records.PlatformRecord{Platform: "linux/amd64", Node: "n1", Result: "running"}))
	must(rec.Log("b1", "linux/amd64", "STEP 1/2: FROM base"))
	must(rec.Log("b1", "linux/arm64", "STEP 1/2: FROM base"))
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, _, err := farmCLI(t, "logs", "--follow", "b1")
		done <- result{out, err}
	}()
	time.Sleep(2 * followPoll)
	must(rec.Log("b1", "linux/arm64", "STEP 2/2: RUN make \x1b]0;title\x07"))
	must(rec.Log("b1", "linux/amd64", "STEP 2/2: RUN make"))
	time.Sleep(2 * followPoll)
	select {
	case res := <-done:
		t.Fatalf("logs --follow ended while the build runs: %v\n%s", res.err, res.out)
	default:
	}
	must(rec.Finish("b1", records.Outcome{Result: "success"}))
	select {
	case res := <-done:
		for _, want := range []string{"[linux/amd64@n1] STEP 1/2: FROM base", "[linux/amd64@n1] STEP 2/2: RUN make", "[linux/arm64] STEP 1/2: FROM base", "[linux/arm64] STEP 2/2: RUN make"} {
			if !strings.Contains(res.out, want) {
				t.Errorf("logs --follow lacks %q:\n%s", want, res.out)
			}
		}
		if res.err != nil || strings.Contains(res.out, "\x1b") {
			t.Errorf("logs --follow: %v, output not sanitized:\n%q", res.err, res.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs --follow does not end when the build ends")
	}
}
