package source

import "testing"

func TestSemverParts(t *testing.T) {
	tests := []struct{ version, major, minor string }{
		{"v1.34.4", "1", "34"},
		{"v1.36.0-alpha.2", "1", "36+"},
		{"v1.33.13", "1", "33"},
	}
	for _, tt := range tests {
		major, minor := semverParts(tt.version)
		if major != tt.major || minor != tt.minor {
			t.Errorf("semverParts(%s) = %s, %s; want %s, %s", tt.version, major, minor, tt.major, tt.minor)
		}
	}
}
