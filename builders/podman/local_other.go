//go:build !linux

package podman

import "syscall"

// serviceProcAttr puts the transient service in a process group of its
// own. Only Linux can tie its life to farm's.
func serviceProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
