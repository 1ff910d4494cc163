package farm

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestClientIDIsMadeOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "farm")
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			id, err := ClientID(dir)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || len(id) != 64 {
			t.Fatalf("farms starting at once must agree on one ID: %q", ids)
		}
	}
	if again, err := ClientID(dir); err != nil || again != ids[0] {
		t.Errorf("the ID must be kept: %q, %v (was %q)", again, err, ids[0])
	}
	st, err := os.Stat(filepath.Join(dir, clientIDFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the ID file must be the user's alone: %v %v", st.Mode(), err)
	}
	other, err := ClientID(t.TempDir())
	if err != nil || other == ids[0] {
		t.Errorf("another state directory must get another ID: %q %v", other, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestClientIDRefusesADamagedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, clientIDFile), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ClientID(dir); err == nil {
		t.Error("a damaged client ID must be an error, not used as a key")
	}
}
