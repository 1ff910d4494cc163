package transport

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// trickyScript holds what login shells and quoting get wrong: single and
// double quotes, newlines, tabs, $, !, %, backslashes, non-ASCII bytes,
// a here-document, and a read of standard input (which must not see the
// script itself).
const trickyScript = `x='it'"'"'s'
printf '%s|%s\n' "$x" 'a\b\\c \n'
echo "bang! dollar \$HOME %d %s 100%"
cat <<'EOF'
	tab, é, ünïcode, $(not run) ` + "`not run`" + `
EOF
if read -r l; then echo "stdin: $l"; else echo "stdin empty"; fi
readlink /proc/$$/exe || echo no-proc
`

// loginShells are the shells installed here that a user might log in with.
func loginShells() []string {
	var out []string
	for _, s := range []string{"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh"} {
		if p, err := exec.LookPath(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// wantOutput is what the script prints run with /bin/sh and no input.
func wantOutput(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("/bin/sh: %v", err)
	}
	return string(out)
}

func TestShWrapSurvivesEveryLoginShell(t *testing.T) {
	want := wantOutput(t, trickyScript)
	if !strings.Contains(want, "it's|a\\b\\\\c \\n") || !strings.Contains(want, "stdin empty") {
		t.Fatalf("the script itself is wrong: %s", want)
	}
	wrapped, err := shWrap(trickyScript)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(wrapped, "\n") || strings.Contains(wrapped, "!") {
		t.Errorf("csh cannot read a newline or ! in quotes: %s", wrapped)
	}
	for _, sh := range loginShells() {
		cmd := exec.Command(sh, "-c", wrapped)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != want {
			t.Errorf("login shell %s: %v\ngot:\n%s\nwant:\n%s", sh, err, out, want)
		}
	}
}

func TestShWrapEdges(t *testing.T) {
	for _, script := range []string{"", "echo -n x", "exit 7", strings.Repeat("echo '%%%'\n", 100)} {
		wrapped, err := shWrap(script)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := exec.Command("/bin/sh", "-c", script).Output()
		got, err := exec.Command("/bin/sh", "-c", wrapped).Output()
		if string(got) != string(want) || exitCode(err) != exitCode(wantErr) {
			t.Errorf("%q: got %q (%v), want %q (%v)", script, got, err, want, wantErr)
		}
	}
	// printf must not take a script for an option.
	if w, _ := shWrap("-x"); !strings.HasSuffix(w, ` sh '\055x'`) {
		t.Errorf("a leading - must be escaped: %s", w)
	}
	if _, err := shWrap("a\x00b"); err == nil {
		t.Error("a NUL byte cannot be passed in a command line")
	}
	if _, err := shWrap(strings.Repeat("'", maxCommand)); err == nil {
		t.Error("a script too long for one argument must be refused")
	}
}

func exitCode(err error) int {
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestRunUsesBinShNotTheLoginShell runs scripts through an SSH server that,
// like sshd, hands the command to the user's login shell: they must still
// run under /bin/sh, with their output and exit status intact.
func TestRunUsesBinShNotTheLoginShell(t *testing.T) {
	want := wantOutput(t, trickyScript)
	binSh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range loginShells() {
		if real, _ := filepath.EvalSymlinks(sh); real == binSh {
			continue // indistinguishable from /bin/sh
		}
		conn := startSSHServer(t, sh)
		out, err := conn.Run(context.Background(), trickyScript)
		if err != nil || string(out) != want {
			t.Errorf("login shell %s: %v\ngot:\n%s\nwant:\n%s", sh, err, out, want)
		}
		out, err = conn.Run(context.Background(), "echo out; echo 'it failed' >&2; exit 3")
		if err == nil || !strings.Contains(err.Error(), "exited with status 3") || !strings.Contains(err.Error(), "it failed") || string(out) != "out\n" {
			t.Errorf("login shell %s: failure not reported: %q, %v", sh, out, err)
		}
	}
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Log("no /proc: the shell running the script was not checked")
	}
}

// TestRunInputFeedsTheScript: a script reads its standard input to the
// end, over SSH and locally, and what it read counts in Sent.
func TestRunInputFeedsTheScript(t *testing.T) {
	data := strings.Repeat("0123456789", 100_000)
	for name, conn := range map[string]*Conn{"ssh": startSSHServer(t, "/bin/sh"), "local": {Dest: Destination{Scheme: "unix"}}} {
		before := conn.Sent()
		out, err := conn.RunInput(context.Background(), "wc -c | tr -d ' '", strings.NewReader(data))
		if err != nil || strings.TrimSpace(string(out)) != "1000000" {
			t.Errorf("%s: %q, %v", name, out, err)
		}
		if sent := conn.Sent() - before; sent != int64(len(data)) {
			t.Errorf("%s: Sent grew by %d, want %d", name, sent, len(data))
		}
		// A script that stops reading early ends the run all the same.
		if _, err := conn.RunInput(context.Background(), "exit 4", strings.NewReader(data)); err == nil {
			t.Errorf("%s: a failing script with unread input: no error", name)
		}
	}
}
