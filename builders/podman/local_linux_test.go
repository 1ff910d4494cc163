package podman

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServiceCommandDiesWithFarm checks that the transient service is
// built to get SIGTERM when farm dies, even by SIGKILL.
func TestServiceCommandDiesWithFarm(t *testing.T) {
	cmd := serviceCommand("/usr/bin/podman", "/tmp/x/podman.sock")
	if a := cmd.SysProcAttr; a == nil || a.Pdeathsig != syscall.SIGTERM || !a.Setpgid {
		t.Fatalf("SysProcAttr = %+v, want Pdeathsig SIGTERM and Setpgid", a)
	}
}

// TestServiceGetsSIGTERMWhenFarmIsKilled starts the service command (a fake
// podman) from a helper process, SIGKILLs the helper and waits for the
// service to be told to stop.
func TestServiceGetsSIGTERMWhenFarmIsKilled(t *testing.T) {
	if dir := os.Getenv("FARM_TEST_SERVICE_PARENT"); dir != "" {
		cmd := serviceCommand(filepath.Join(dir, "podman"), filepath.Join(dir, "podman.sock"))
		if _, err := startService(cmd); err != nil {
			os.Exit(3)
		}
		// Goroutines that exit locked to their thread end it: the
		// service must not take that for farm's death.
		for range 200 {
			done := make(chan struct{})
			go func() { runtime.LockOSThread(); close(done) }()
			<-done
		}
		_ = os.WriteFile(filepath.Join(dir, "churned"), nil, 0o600)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	fake := "#!/bin/sh\ntrap 'echo term > \"" + dir + "/got\"; exit 0' TERM\necho $$ > \"" + dir + "/ready.tmp\"\nmv \"" + dir + "/ready.tmp\" \"" + dir + "/ready\"\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(filepath.Join(dir, "podman"), []byte(fake), 0o700); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestServiceGetsSIGTERMWhenFarmIsKilled$")
	helper.Env = append(os.Environ(), "FARM_TEST_SERVICE_PARENT="+dir)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = helper.Process.Kill(); _ = helper.Wait() }()
	pid := 0
	waitFor(t, "the service to start (was it stopped at once?)", func() bool {
		data, err := os.ReadFile(filepath.Join(dir, "ready"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && pid > 0
	})
	defer func() { _ = syscall.Kill(-pid, syscall.SIGKILL) }()
	waitFor(t, "farm's threads to churn", func() bool {
		_, err := os.Stat(filepath.Join(dir, "churned"))
		return err == nil
	})
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "got")); err == nil {
		t.Fatal("the service was stopped while farm still ran")
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SIGTERM to reach the service", func() bool {
		_, err := os.Stat(filepath.Join(dir, "got"))
		return err == nil
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for " + what)
		}
	}
}
