package farm

import "testing"

func TestStepOf(t *testing.T) {
	tests := []struct {
		line        string
		step, steps int
	}{
		{"STEP 2/3: RUN make", 2, 3},
		{"Step 2/3 : RUN make", 2, 3},
		{"[2/3] RUN make", 2, 3},
		{"RUN make", 0, 0},
		{"[internal] load build definition", 0, 0},
		// A node's line must not make a step out of an overflowed number.
		{"STEP 99999999999999999999/2: RUN x", 0, 0},
		{"STEP 1/18446744073709551617: RUN x", 0, 0},
	}
	for _, tt := range tests {
		if step, steps := stepOf(tt.line); step != tt.step || steps != tt.steps {
			t.Errorf("stepOf(%q) = %d, %d; want %d, %d", tt.line, step, steps, tt.step, tt.steps)
		}
	}
}

func TestStepText(t *testing.T) {
	for line, want := range map[string]string{
		"STEP 2/3: RUN make":          "RUN make",
		"Step 2/3 : RUN make  ":       "RUN make",
		"[2/3] RUN make":              "RUN make",
		"STEP 1/1: FROM base":         "FROM base",
		"RUN make":                    "",
		"[internal] load build defin": "",
		"STEP 3/3":                    "",
	} {
		if got := StepText(line); got != want {
			t.Errorf("StepText(%q) = %q, want %q", line, got, want)
		}
	}
}
