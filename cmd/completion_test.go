package cmd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/builders"
	"github.com/farmbuild/farm/records"
)

// complete runs cobra's hidden __complete command in-process and returns
// the choices (without descriptions).
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	out := mustCLI(t, append([]string{"__complete"}, args...)...)
	var choices []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, ":") || line == "" {
			continue // the directive
		}
		choice, _, _ := strings.Cut(line, "\t")
		choices = append(choices, choice)
	}
	return choices
}

// Shell completion offers the farms, connections and build IDs farm knows
// where a command takes one.
func TestCompletionOfNames(t *testing.T) {
	isolate(t)
	// No records yet: build IDs complete to nothing, and no records are made.
	if got := complete(t, "logs", ""); len(got) != 0 {
		t.Errorf("logs without records: %v", got)
	}
	if state, _ := stateDir(); fileExists(state + "/builds.db") {
		t.Error("completion created the records")
	}
	mustCLI(t, "connection", "add", "amd1", "unix:///a.sock")
	mustCLI(t, "connection", "add", "arm1", "unix:///b.sock")
	mustCLI(t, "create", "f1", "amd1")
	mustCLI(t, "create", "f2", "amd1", "arm1")
	rec, _, err := openRecordsIn()
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"abc111", "abd222", "fff333"} {
		if err := rec.Start(records.BuildRecord{ID: id, Started: time.Now().Add(time.Duration(i) * time.Minute), Args: []string{"build", "--tag=app:1", "."}}); err != nil {
			t.Fatal(err)
		}
	}
	rec.Close()

	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"connection", "remove", ""}, []string{"amd1", "arm1"}},
		{[]string{"connection", "update", ""}, []string{"amd1", "arm1"}},
		{[]string{"connection", "rename", ""}, []string{"amd1", "arm1"}},
		{[]string{"connection", "rename", "amd1", ""}, nil},
		{[]string{"create", ""}, nil},
		{[]string{"create", "f3", ""}, []string{"amd1", "arm1"}},
		{[]string{"create", "f3", "amd1", ""}, []string{"arm1"}},
		{[]string{"update", ""}, []string{"f1", "f2"}},
		{[]string{"update", "f1", ""}, nil},
		{[]string{"update", "f2", "--remove", ""}, []string{"amd1", "arm1"}},
		{[]string{"update", "f1", "--add", ""}, []string{"amd1", "arm1"}},
		{[]string{"remove", "f1", ""}, []string{"f2"}},
		{[]string{"build", "--farm", ""}, []string{"f1", "f2"}},
		{[]string{"status", "--farm", ""}, []string{"f1", "f2"}},
		{[]string{"prune", "--farm", ""}, []string{"f1", "f2"}},
		{[]string{"history", "--farm", ""}, []string{"f1", "f2"}},
		{[]string{"history", "--result", ""}, records.Results},
		{[]string{"logs", ""}, []string{"fff333", "abd222", "abc111"}},
		{[]string{"logs", "ab"}, []string{"abd222", "abc111"}},
		{[]string{"logs", "abc111", ""}, nil},
		{[]string{"inspect", ""}, []string{"fff333", "abd222", "abc111"}},
		{[]string{"inspect", "abc111", "f"}, []string{"fff333"}},
		{[]string{"inspect", "abc111", "fff333", ""}, nil},
	} {
		if got := complete(t, tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("farm %s<TAB> = %v, want %v", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	out := mustCLI(t, "__complete", "logs", "fff")
	if !strings.Contains(out, "fff333\trunning app:1") {
		t.Errorf("a build ID is described by its result and tags:\n%s", out)
	}
}

// Every completion finds its command and flag: a renamed one fails here.
func TestCompletionsAreRegistered(t *testing.T) {
	root := newRootCmd(builders.Open)
	if missing := registerCompletions(root, &rootOptions{}); len(missing) > 0 {
		t.Errorf("completions for missing commands or flags: %v", missing)
	}
}
