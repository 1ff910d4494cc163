package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/bake"
	"github.com/farmbuild/farm/logline"
	"github.com/farmbuild/farm/records"
)

// registerCompletions teaches shell completion (farm completion, cobra's
// __complete) the names farm knows: farms, connections and recorded build
// IDs. It returns the commands and flags it did not find, which a test
// keeps empty; completion never fails a command.
func registerCompletions(root *cobra.Command, ro *rootOptions) []string {
	conns := func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return connectionNames(ro, args), cobra.ShellCompDirectiveNoFileComp
	}
	farms := func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return farmNames(ro, args), cobra.ShellCompDirectiveNoFileComp
	}
	ids := func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return buildIDs(toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	fixed := func(choices ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(choices, cobra.ShellCompDirectiveNoFileComp)
	}
	formats := fixed("table", "json")
	positional := map[string]cobra.CompletionFunc{
		"connection add":    cobra.NoFileCompletions,
		"connection remove": upTo(1, conns),
		"connection rename": upTo(1, conns),
		"connection update": upTo(1, conns),
		"connection list":   cobra.NoFileCompletions,
		"create":            afterFirst(conns),
		"update":            upTo(1, farms),
		"remove":            farms,
		"list":              cobra.NoFileCompletions,
		"status":            cobra.NoFileCompletions,
		"prune":             cobra.NoFileCompletions,
		"history":           cobra.NoFileCompletions,
		"history prune":     cobra.NoFileCompletions,
		"logs":              upTo(1, ids),
		"inspect":           upTo(2, ids),
		"bake":              bakeNames,
	}
	flags := map[string]map[string]cobra.CompletionFunc{
		"build":           {"farm": farms},
		"bake":            {"farm": farms, "progress": fixed("auto", "tty", "plain", "json")},
		"status":          {"farm": farms, "format": formats},
		"prune":           {"farm": farms, "format": formats},
		"history":         {"farm": farms, "format": formats, "result": fixed(records.Results...)},
		"inspect":         {"format": formats},
		"list":            {"format": formats},
		"connection list": {"format": formats},
		"update":          {"add": conns, "remove": farmMembers(ro)},
	}
	var missing []string
	find := func(path string) *cobra.Command {
		c, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) > 0 || c == root {
			missing = append(missing, path)
			return nil
		}
		return c
	}
	for path, fn := range positional {
		if c := find(path); c != nil {
			c.ValidArgsFunction = fn
		}
	}
	for path, fs := range flags {
		c := find(path)
		for name, fn := range fs {
			if c == nil || c.Flags().Lookup(name) == nil {
				missing = append(missing, fmt.Sprintf("%s --%s", path, name))
				continue
			}
			_ = c.RegisterFlagCompletionFunc(name, fn) // fails only when registered already
		}
	}
	slices.Sort(missing)
	return missing
}

// bakeNames completes farm bake's arguments with the groups and targets
// of the files -f names (or the default files), not already given.
func bakeNames(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, _ := cmd.Flags().GetStringArray("file")
	files, err := bake.ReadFiles(dir, names, strings.NewReader(""))
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	all, err := bake.Names(files, environ())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, n := range all {
		if !slices.Contains(args, n) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completion is a choice with its description, which cannot break the
// completion protocol or the terminal.
func completion(choice, desc string) cobra.Completion {
	return cobra.CompletionWithDesc(choice, strings.Join(strings.Fields(logline.Sanitize(desc)), " "))
}

// upTo completes the first n arguments with fn, and nothing after.
func upTo(n int, fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= n {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args, toComplete)
	}
}

// afterFirst completes every argument but the first (a new name) with fn.
func afterFirst(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args[1:], toComplete)
	}
}

// connectionNames are the connections not already among args.
func connectionNames(ro *rootOptions, args []string) []cobra.Completion {
	conns, err := ro.store.Connections()
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, c := range conns {
		if !slices.Contains(args, c.Name) {
			out = append(out, completion(c.Name, c.URI))
		}
	}
	return out
}

// farmNames are the farms not already among args.
func farmNames(ro *rootOptions, args []string) []cobra.Completion {
	farms, err := ro.store.Farms()
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, f := range farms {
		if !slices.Contains(args, f.Name) {
			out = append(out, completion(f.Name, strings.Join(f.Connections, ",")))
		}
	}
	return out
}

// farmMembers completes farm update NAME --remove with NAME's connections.
func farmMembers(ro *rootOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		farms, err := ro.store.Farms()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		for _, f := range farms {
			if f.Name == args[0] {
				return f.Connections, cobra.ShellCompDirectiveNoFileComp
			}
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// buildIDs are the recorded builds whose ID starts with prefix, newest
// first, each described by its result, tags and start. It creates no
// records where there are none.
func buildIDs(prefix string) []cobra.Completion {
	dir, err := stateDir()
	if err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "builds.db")); err != nil {
		return nil
	}
	rec, _, err := openRecordsIn()
	if err != nil {
		return nil
	}
	defer rec.Close()
	builds, err := rec.List()
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, b := range builds {
		if strings.HasPrefix(b.ID, prefix) {
			desc := strings.TrimSpace(b.Result + " " + strings.Join(b.Tags, ",") + " " + b.Started.Local().Format("2006-01-02 15:04"))
			out = append(out, completion(b.ID, desc))
		}
	}
	return out
}
