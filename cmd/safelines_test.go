package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/farmbuild/farm/records"
)

// farm logs prints a recorded log with escape sequences and control
// characters removed; the file keeps them.
func TestLogsAreSanitized(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	_, _, _ = farmCLIWith(t, fakeOpener, "build", "--platforms", "linux/amd64", "--output", "type=oci,dest="+t.TempDir()+"/l", "-t", "x:1", dir)
	var builds []records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "history", "--format", "json")), &builds); err != nil || len(builds) != 1 {
		t.Fatalf("history: %v, %+v", err, builds)
	}
	rec, _, err := openRecordsIn()
	if err != nil {
		t.Fatal(err)
	}
	path := rec.LogFile(builds[0].ID, "linux/amd64")
	rec.Close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(hostile + "\nlast line without a newline")
	f.Close()
	for _, args := range [][]string{{"logs", builds[0].ID}, {"logs", "--platform", "linux/amd64", builds[0].ID}} {
		out := mustCLI(t, args...)
		noControls(t, "farm "+strings.Join(args, " "), out)
		if !strings.Contains(out, "building on amd1") || !strings.Contains(out, "\nevil") || !strings.HasSuffix(out, "\nlast line without a newline\n") {
			t.Errorf("farm %s:\n%q", strings.Join(args, " "), out)
		}
	}
	if data, _ := os.ReadFile(path); !bytes.Contains(data, []byte(hostile)) {
		t.Error("the log file must keep the output as it came")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestSafeLineWriterReportsPrintErrors(t *testing.T) {
	w := newSafeLineWriter(failWriter{})
	if _, err := w.Write([]byte("a\nb")); err == nil {
		t.Error("a failed print must fail the write")
	}
	if err := w.Flush(); err == nil {
		t.Error("Flush must report the failed print")
	}
}
