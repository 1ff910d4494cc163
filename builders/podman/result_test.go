package podman

import "testing"

func TestImageForPicksTheBuiltImage(t *testing.T) {
	before := map[string]bool{"old": true}
	tests := []struct {
		name       string
		candidates []summary
		want       string
	}{
		{"one image", []summary{{id: "img"}}, "img"},
		{"podman 5 says which is a list", []summary{{id: "list", list: true}, {id: "img"}}, "img"},
		{"podman 4 does not: farm's list by its name", []summary{{id: "list", names: []string{"localhost/farm-build:0123-list"}}, {id: "img"}}, "img"},
		{"the image the call made before one that was there", []summary{{id: "old"}, {id: "new"}}, "new"},
		{"only a list", []summary{{id: "list", list: true}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := imageFor(tt.candidates, before); got != tt.want {
				t.Errorf("imageFor = %q, want %q", got, tt.want)
			}
		})
	}
}
