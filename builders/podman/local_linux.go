//go:build linux

package podman

import "syscall"

// serviceProcAttr puts the transient service in a process group of its own
// and has the kernel send it SIGTERM when farm dies, even by SIGKILL, so
// that it is never left running. The signal follows the thread that
// started it: startService keeps that thread for the service's life.
func serviceProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
