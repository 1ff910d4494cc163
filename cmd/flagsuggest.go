package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagAliases are other spellings of farm's flags: podman's and buildx's
// --platform for --platforms.
var flagAliases = map[string]string{"platform": "platforms"}

// aliasFlags is a normalization function that reads an alias as its flag.
func aliasFlags(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if to, ok := flagAliases[name]; ok {
		name = to
	}
	return pflag.NormalizedName(name)
}

// suggestFlag is a flag error function: a usage error (exit 2) that, for
// an unknown flag, names the nearest one.
func suggestFlag(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return usageError{err}
	}
	if near := nearestFlag(cmd, name); near != "" {
		return usageError{fmt.Errorf("unknown flag --%s: did you mean --%s?", name, near)}
	}
	return usageError{fmt.Errorf("unknown flag --%s: see %s --help", name, cmd.CommandPath())}
}

// nearestFlag returns the visible flag (or alias) of cmd nearest to name,
// if one is near enough to be a typo: at most two edits, and fewer than
// half the name's length.
func nearestFlag(cmd *cobra.Command, name string) string {
	var candidates []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			candidates = append(candidates, f.Name)
		}
	})
	for alias := range flagAliases {
		if cmd.Flags().Lookup(alias) != nil {
			candidates = append(candidates, alias)
		}
	}
	best, bestDist := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), c)
		if d < bestDist || d == bestDist && best != "" && c < best {
			best, bestDist = c, d
		}
	}
	if best == "" || 2*bestDist >= len(name) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
