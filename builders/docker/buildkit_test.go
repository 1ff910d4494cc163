package docker

import (
	"os"
	"strings"
	"testing"
)

// The test data are real streams from Docker 20.10 building
// "FROM base / RUN uname -m > /arch && echo built-on-$(uname -m) / COPY".
func TestReadBuildKitStream(t *testing.T) {
	tests := []struct {
		file, id, step, err string
		lines               []string
	}{
		{"buildkit-ok.json", "sha256:9985b5525c0383e428414329338ce67b7a5ade04351ac9c353308196c143761c", "3/3 : COPY hello.txt /hello.txt", "",
			[]string{"[1/3] FROM docker.io/library/base", "[2/3] RUN uname -m > /arch && echo built-on-$(uname -m)", "built-on-x86_64"}},
		{"buildkit-runfail.json", "", "2/2 : RUN echo about-to-fail && exit 7", "exit code: 7",
			[]string{"about-to-fail"}},
		{"buildkit-error.json", "", "2/3 : RUN uname -m > /arch && echo built-on-$(uname -m)", "network bridge not found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var lines []string
			id, step, err := readBuildKitStream(f, func(l string) { lines = append(lines, l) })
			if id != tt.id || step != tt.step {
				t.Errorf("id, step = %q, %q; want %q, %q", id, step, tt.id, tt.step)
			}
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
			all := strings.Join(lines, "\n")
			if strings.Contains(all, "copy /context /") || strings.Contains(all, "[internal]") {
				t.Errorf("BuildKit's own steps are not the user's:\n%s", all)
			}
			for _, want := range tt.lines {
				if !strings.Contains(all, want) {
					t.Errorf("output lacks %q:\n%s", want, all)
				}
			}
		})
	}
}
