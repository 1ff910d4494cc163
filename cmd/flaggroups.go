package cmd

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// groupAnnotation is the flag annotation that names a flag's group in
// the help.
const groupAnnotation = "farm_group"

// flagGroups are the groups of farm build's flags, in the order the help
// shows them, as podman's help groups its own.
var flagGroups = []struct {
	title string
	flags []string
}{
	{"Build flags", []string{"file", "build-arg", "build-arg-file", "build-context", "target", "label", "annotation",
		"env", "unsetenv", "format", "identity-label", "source-date-epoch", "timestamp", "ignorefile",
		"no-cache", "layers", "squash", "squash-all", "pull", "pin-base", "cache-from", "cache-to", "rm", "force-rm", "jobs"}},
	{"RUN step flags", []string{"network", "add-host", "dns", "dns-option", "dns-search", "volume", "secret",
		"security-opt", "cap-add", "cap-drop", "shm-size", "ulimit"}},
	{"Resource flags", []string{"memory", "memory-swap", "cpu-shares", "cpu-quota", "cpu-period", "cpuset-cpus",
		"cpuset-mems", "cgroup-parent"}},
	{"Registry flags", []string{"authfile", "creds", "cert-dir", "tls-verify", "retry", "retry-delay"}},
	{"Output flags", []string{"tag", "push", "output", "iidfile", "metadata-file", "progress", "quiet"}},
	{"Farm flags", []string{"platforms", "farm", "local", "keep-going", "allow-partial", "test", "cleanup",
		"timeout", "connect-timeout", "dry-run"}},
}

// groupFlags annotates cmd's flags with their group and shows them so
// in its help.
func groupFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	for _, g := range flagGroups {
		for _, name := range g.flags {
			if f.Lookup(name) == nil {
				panic("flag group " + g.title + ": no flag --" + name)
			}
			_ = f.SetAnnotation(name, groupAnnotation, []string{g.title})
		}
	}
	cmd.SetUsageFunc(groupedUsage)
}

// groupedUsage prints a command's usage as cobra does, with its flags in
// their groups.
func groupedUsage(c *cobra.Command) error {
	w := c.OutOrStderr()
	fmt.Fprintf(w, "Usage:\n  %s", c.UseLine())
	if c.HasExample() {
		fmt.Fprintf(w, "\n\nExamples:\n%s", c.Example)
	}
	local := c.LocalFlags()
	for _, g := range flagGroups {
		var flags []*pflag.Flag
		for _, name := range g.flags {
			if f := local.Lookup(name); f != nil {
				flags = append(flags, f)
			}
		}
		printFlags(w, g.title, flags)
	}
	var other, global []*pflag.Flag
	local.VisitAll(func(f *pflag.Flag) {
		if len(f.Annotations[groupAnnotation]) == 0 {
			other = append(other, f)
		}
	})
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) { global = append(global, f) })
	printFlags(w, "Other flags", other)
	printFlags(w, "Global flags", global)
	fmt.Fprintln(w)
	return nil
}

// printFlags prints the visible flags, in their order, under title.
func printFlags(w io.Writer, title string, flags []*pflag.Flag) {
	group := pflag.NewFlagSet(title, pflag.ContinueOnError)
	group.SortFlags = false
	for _, f := range flags {
		if !f.Hidden {
			group.AddFlag(f)
		}
	}
	if usage := strings.TrimRight(group.FlagUsages(), " \n"); usage != "" {
		fmt.Fprintf(w, "\n\n%s:\n%s", title, usage)
	}
}
