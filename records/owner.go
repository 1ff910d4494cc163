package records

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Owner identifies the farm process running a build, so that a build whose
// process was killed is not taken for running forever.
type Owner struct {
	// PID is the process's ID; 0: unknown, the build is never taken for
	// interrupted.
	PID int `json:"pid"`
	// Start is when the process started, in clock ticks after boot (field
	// 22 of /proc/<pid>/stat): a process that reuses the PID has another.
	Start uint64 `json:"start"`
	// Host names the host and PID namespace the PID belongs to.
	Host string `json:"host"`
}

// interruptedExit is farm's exit status when interrupted
// (docs/exit-codes.md).
const interruptedExit = 130

// ProcessOwner returns the Owner of process pid on this host, from /proc
// (Linux only: elsewhere it fails, and builds are recorded without one).
func ProcessOwner(pid int) (Owner, error) {
	host, err := hostIdentity()
	if err != nil {
		return Owner{}, err
	}
	start, _, err := procStat(pid)
	if err != nil {
		return Owner{}, err
	}
	return Owner{PID: pid, Start: start, Host: host}, nil
}

// hostIdentity names this host and PID namespace: PIDs mean the same
// process only within both.
func hostIdentity() (string, error) {
	name, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host name: %w", err)
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "", fmt.Errorf("PID namespace: %w", err)
	}
	return name + " " + ns, nil
}

// procStat returns the start time (field 22) and state (field 3) of a
// process from /proc/<pid>/stat.
func procStat(pid int) (uint64, byte, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	start, state, err := parseStat(data)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return start, state, nil
}

// parseStat reads the start time and state of a /proc/<pid>/stat.
func parseStat(data []byte) (uint64, byte, error) {
	// Field 2, the command name in parentheses, may hold spaces and ")".
	end := strings.LastIndexByte(string(data), ')')
	if end < 0 {
		return 0, 0, errors.New("no command name")
	}
	fields := strings.Fields(string(data[end+1:])) // from field 3 on
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, errors.New("too short")
	}
	start, err := strconv.ParseUint(fields[22-3], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("start time: %w", err)
	}
	return start, fields[0][0], nil
}

// errUnknownOwner means a build was recorded without its owner.
var errUnknownOwner = errors.New("build recorded without its process")

// OwnerAlive reports whether o still runs: false when no process has its
// PID or the one that has started at another time, or is a zombie. It
// fails (cannot tell) for a build of another host or PID namespace, or
// recorded without an owner.
func OwnerAlive(o Owner) (bool, error) {
	if o.PID <= 0 {
		return false, errUnknownOwner
	}
	here, err := hostIdentity()
	if err != nil {
		return false, err
	}
	if o.Host != here {
		return false, fmt.Errorf("build runs on %q, not here (%q)", o.Host, here)
	}
	start, state, err := procStat(o.PID)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return start == o.Start && state != 'Z' && state != 'X', nil
}

// reap records as interrupted the running builds whose owner is gone: it
// finished them at their last log write, with the exit status of an
// interrupted farm. The platforms still running are interrupted too.
func (r *Records) reap() error {
	rows, err := r.db.Query(`SELECT id, owner_pid, owner_start, owner_host FROM builds WHERE result = 'running'`)
	if err != nil {
		return err
	}
	var dead []Owner
	var ids []string
	for rows.Next() {
		var id string
		var pid, start *int64
		var host *string
		if err := rows.Scan(&id, &pid, &start, &host); err != nil {
			rows.Close()
			return err
		}
		o := Owner{}
		if pid != nil && start != nil && host != nil {
			o = Owner{PID: int(*pid), Start: uint64(*start), Host: *host}
		}
		if alive, err := r.alive(o); err == nil && !alive {
			dead, ids = append(dead, o), append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for k, id := range ids {
		if err := r.interrupt(id, dead[k]); err != nil {
			return fmt.Errorf("recording build %s as interrupted: %w", id, err)
		}
	}
	return nil
}

// interrupt records that build id's owner died while it ran.
func (r *Records) interrupt(id string, o Owner) error {
	finished := r.lastLogWrite(id)
	tx, err := r.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	res, err := tx.Exec(`UPDATE builds SET finished = ?, result = 'interrupted', exit_code = ?, error = ? WHERE id = ? AND result = 'running'`,
		finished.UnixMilli(), interruptedExit, fmt.Sprintf("farm (process %d) ended without finishing the build", o.PID), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // it finished meanwhile
	}
	if _, err := tx.Exec(`UPDATE platforms SET result = 'interrupted' WHERE build_id = ? AND result = 'running'`, id); err != nil {
		return err
	}
	return tx.Commit()
}

// lastLogWrite is when a build last wrote a log line, or now.
func (r *Records) lastLogWrite(id string) time.Time {
	var last time.Time
	entries, _ := os.ReadDir(filepath.Join(r.dir, "logs", id))
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().After(last) {
			last = info.ModTime()
		}
	}
	if last.IsZero() {
		return time.Now()
	}
	return last
}
