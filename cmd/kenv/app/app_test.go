package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), args, Streams{Out: &out, Err: &out})
	return out.String(), err
}

func TestUpRefusesAnInvalidSpec(t *testing.T) {
	t.Setenv("KENV_HOME", t.TempDir())
	out, err := run(t, "up", "../../../env/spec/testdata/bad-version.hcl")
	if err == nil {
		t.Fatal("up accepted an invalid spec")
	}
	for _, want := range []string{"bad-version.hcl line 2", `"1.34" is not a Kubernetes release version`, "nothing was started"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUnusableStateDirectory(t *testing.T) {
	// A file where the state directory should be: even root cannot write
	// below it.
	home := filepath.Join(t.TempDir(), "home")
	if err := os.WriteFile(home, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KENV_HOME", home)
	_, err := run(t, "up", "../../../examples/debug.hcl")
	if err == nil || !strings.Contains(err.Error(), "create the state directory") || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("up with an unusable state directory: %v", err)
	}
	if raw, _ := os.ReadFile(home); string(raw) != "not a directory" {
		t.Errorf("the file in the way was changed")
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]string{
		"--v=3":                           "--v=3",
		"--cors-allowed-origins=//a$":     "'--cors-allowed-origins=//a$'",
		"it's":                            `'it'\''s'`,
		"/path/with space/kube-apiserver": "'/path/with space/kube-apiserver'",
	}
	for in, want := range tests {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestNoEnvironment(t *testing.T) {
	t.Setenv("KENV_HOME", t.TempDir())
	if _, err := run(t, "status"); err == nil || !strings.Contains(err.Error(), "no environment is up") {
		t.Errorf("status with no environment: %v", err)
	}
	if _, err := run(t, "attach", "kube-apiserver"); err == nil {
		t.Error("attach with no environment succeeded")
	}
}
