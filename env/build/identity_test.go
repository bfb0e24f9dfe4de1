package build

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestProgramID builds a small program three times: with a function
// nothing calls added above the code it runs, which moves its lines, and
// with a change to the code it runs. Only the last changes its ProgramID;
// moving lines changes its ContentID too, which a debugged component's
// restart goes by.
func TestProgramID(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/p\n\ngo 1.22\n")
	ids := func(src string) (program, content string) {
		t.Helper()
		write("main.go", src)
		cmd := exec.Command("go", "build", "-trimpath", "-o", "p", ".")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		f, err := os.Open(filepath.Join(dir, "p"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if program, err = ProgramID(f); err != nil {
			t.Fatal(err)
		}
		if content, err = ContentID(f); err != nil {
			t.Fatal(err)
		}
		return program, content
	}
	p1, c1 := ids("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(1) }\n")
	p2, c2 := ids("package main\n\nimport \"fmt\"\n\nfunc unused() int { return 7 }\n\nfunc main() { fmt.Println(1) }\n")
	p3, _ := ids("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(2) }\n")
	if p1 != p2 {
		t.Errorf("a function nothing calls, which moves main's lines, changed the ProgramID")
	}
	if c1 == c2 {
		t.Errorf("main's lines moved, and the ContentID is the same")
	}
	if p1 == p3 {
		t.Errorf("a change to what main does left the ProgramID as it was")
	}
}
