package delve

import "testing"

func TestVersionFor(t *testing.T) {
	tests := []struct{ goVersion, want string }{
		{"1.24.12", "v1.26.2"},
		{"1.25.11", "v1.27.2"},
		{"1.26.5", "v1.27.2"},
		{"go1.27.0", "v1.27.2"},
		{"1.23.4", "v1.25.2"},
		{"1.21.13", "v1.24.2"},
	}
	for _, tt := range tests {
		got, err := VersionFor(tt.goVersion)
		if err != nil || got != tt.want {
			t.Errorf("VersionFor(%s) = %s, %v; want %s", tt.goVersion, got, err, tt.want)
		}
	}
	for _, bad := range []string{"1.20.1", "1.28.0", "2.0", "x"} {
		if v, err := VersionFor(bad); err == nil {
			t.Errorf("VersionFor(%s) = %s, want an error", bad, v)
		}
	}
}
