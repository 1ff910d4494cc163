package bake

import (
	"strings"
	"testing"
)

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "a", "EMPTY": "", "B_2": "b"}
	for _, tc := range []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"$A-${A}-$B_2", "a-a-b", ""},
		{"$$A costs $$5", "$A costs $5", ""},
		{"${MISSING}|$MISSING", "|", ""},
		{"${MISSING:-def}|${EMPTY:-def}|${EMPTY-def}|${MISSING-def}", "def|def||def", ""},
		{"${A:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${MISSING+alt}", "alt||alt|", ""},
		{"${MISSING:-${A}x}", "ax", ""},
		{"${A:?needed}", "a", ""},
		{"${EMPTY:?give EMPTY}", "", "required variable EMPTY is missing a value: give EMPTY"},
		{"${EMPTY?x}", "", ""},
		{"cost: 5$", "cost: 5$", ""},
		{"${A", "", "unclosed"},
		{"${1A}", "", "invalid variable name"},
		{"${A/x/y}", "", "invalid expansion"},
	} {
		got, err := interpolate(tc.in, env)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
