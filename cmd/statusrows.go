package cmd

import (
	"fmt"
	"io"
	"strings"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/farm"
)

// statusRows prints farm status's table a row at a time, as the nodes
// answer, in columns wide enough for what nodes usually report (a longer
// value shifts its row, never hides it).
type statusRows struct {
	w      io.Writer
	widths []int
	err    error
}

func newStatusRows(w io.Writer, conns []config.Connection) *statusRows {
	name := len("NODE")
	for _, c := range conns {
		name = max(name, len(c.Name))
	}
	r := &statusRows{w: w, widths: []int{name, 6, 16, 22, 26, 4, 9, 9}}
	r.print("NODE", "STATUS", "ENGINE", "NATIVE", "EMULATED", "CPUS", "MEMORY", "FREE")
	return r
}

// row prints one node's row.
func (r *statusRows) row(n farm.NodeStatus) {
	if !n.Reachable {
		r.print(n.Name, "down", "-", "-", "-", "-", "-", "-")
		return
	}
	// Written as NATIVE is, and as --platforms takes them.
	emulated := strings.Join(n.Emulated, ",")
	if emulated == "" {
		emulated = "-"
	}
	native := strings.Join(append([]string{n.Native}, n.Compatible...), ",")
	r.print(n.Name, "ok", n.Kind+" "+n.Version, native, emulated, fmt.Sprint(n.CPUs), humanBytes(n.MemoryBytes), humanBytes(n.FreeBytes))
}

func (r *statusRows) print(cells ...string) {
	var b strings.Builder
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		fmt.Fprintf(&b, "%-*s  ", r.widths[i], c)
	}
	if r.err == nil {
		_, r.err = fmt.Fprintln(r.w, strings.TrimRight(b.String(), " "))
	}
}

// finish says, after the table, why each node that is down is down.
func (r *statusRows) finish(errOut io.Writer, nodes []farm.NodeStatus) error {
	for _, n := range nodes {
		if !n.Reachable {
			fmt.Fprintf(errOut, "%s: %s\n", n.Name, strings.Join(strings.Fields(n.Error), " "))
		}
	}
	return r.err
}
