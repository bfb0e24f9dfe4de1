package source

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

func TestSemverOfDescribe(t *testing.T) {
	tests := map[string]string{
		"v1.34.4":                            "v1.34.4",
		"v1.34.4-3-g0123456789abcd":          "v1.34.4-3+0123456789abcd",
		"v1.35.0-alpha.1-12-g0123456789abcd": "v1.35.0-alpha.1.12+0123456789abcd",
		"v1.35.0-rc.0":                       "v1.35.0-rc.0",
	}
	for in, want := range tests {
		if got := semverOfDescribe(in); got != want {
			t.Errorf("semverOfDescribe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGitVersion(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=kenv", "-c", "user.email=kenv@example.invalid"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	git("init", "-q")
	write("a.go", "package a\n")
	git("add", ".")
	git("commit", "-q", "-m", "one")
	git("tag", "v1.34.4")

	v, err := gitVersion(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.34.4" || v.GitTreeState != "clean" || v.GitMajor != "1" || v.GitMinor != "34" || len(v.GitCommit) != 40 {
		t.Errorf("at the tag: %+v", v)
	}

	write("a.go", "package a\n\nvar x int\n")
	git("commit", "-q", "-am", "two")
	v, _ = gitVersion(ctx, dir)
	if !regexp.MustCompile(`^v1\.34\.4-1\+[0-9a-f]{14}$`).MatchString(v.GitVersion) || v.GitMinor != "34+" {
		t.Errorf("a commit past the tag: %+v", v)
	}

	write("a.go", "package a\n\nvar y int\n")
	v, _ = gitVersion(ctx, dir)
	if v.GitTreeState != "dirty" || !regexp.MustCompile(`-dirty$`).MatchString(v.GitVersion) {
		t.Errorf("an uncommitted edit: %+v", v)
	}
	again, _ := gitVersion(ctx, dir)
	if again.BuildDate != v.BuildDate {
		t.Errorf("the build date moved from %s to %s without a commit", v.BuildDate, again.BuildDate)
	}
}
