package engine

import (
	"strings"
	"testing"
)

func TestReadPushStream(t *testing.T) {
	tests := []struct {
		name, stream, wantErr string
	}{
		{"success", `{"stream":"Copying blob"}` + "\n" + `{"status":"pushed"}` + "\n", ""},
		{"an error after a status", `{"status":"pushing"}` + "\n" + `{"error":"denied"}` + "\n", "denied"},
		{"cut short", `{"stream":"Copying blob 12`, "cannot be read"},
		{"not JSON", "<html>", "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ReadPushStream(strings.NewReader(tt.stream))
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ReadPushStream = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
