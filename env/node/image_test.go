package node

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// imageAt reads the image ref from the docker-archive tarball at path.
func imageAt(t *testing.T, path, ref string) v1.Image {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("%s in %s: %v", ref, path, err)
	}
	return img
}

// files are the files of the image's only layer, by name, and their modes.
func files(t *testing.T, img v1.Image) (content map[string][]byte, mode map[string]int64) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	content, mode = map[string][]byte{}, map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return content, mode
		}
		if err != nil {
			t.Fatal(err)
		}
		content[h.Name], _ = io.ReadAll(tr)
		mode[h.Name] = h.Mode
	}
}

func TestExecutableImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "agent")
	program := []byte("\x7fELF not really")
	if err := os.WriteFile(bin, program, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.tar")
	const ref = "localhost/kenv/agent:v1"
	if err := ExecutableImage(path, ref, bin, v1.Config{Entrypoint: []string{"/agent"}, User: "65535:65535"}); err != nil {
		t.Fatal(err)
	}
	img := imageAt(t, path, ref)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !slices.Equal(cf.Config.Entrypoint, []string{"/agent"}) || cf.Config.User != "65535:65535" {
		t.Errorf("config: %s/%s, entrypoint %q, user %q", cf.OS, cf.Architecture, cf.Config.Entrypoint, cf.Config.User)
	}
	content, mode := files(t, img)
	if len(content) != 1 || !bytes.Equal(content["agent"], program) {
		t.Errorf("layer holds %v, want agent alone", slices.Sorted(maps.Keys(content)))
	}
	if mode["agent"] != 0o755 {
		t.Errorf("agent has mode %o, want 755: the runtime could not execute it", mode["agent"])
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary tarball is left: %v", err)
	}
}

func TestExecutableImageFails(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "agent")
	if err := os.WriteFile(bin, []byte("program"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, ref, bin string }{
		{"no executable", "localhost/kenv/agent:v1", filepath.Join(dir, "missing")},
		{"not an image name", "Local Host/agent", bin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.tar")
			if err := ExecutableImage(path, tt.ref, tt.bin, v1.Config{}); err == nil {
				t.Errorf("ExecutableImage(%s, %s) succeeded", tt.ref, tt.bin)
			}
			// Whole or not at all.
			for _, p := range []string{path, path + ".tmp"} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s is left: %v", p, err)
				}
			}
		})
	}
}

// ociLayout writes an OCI layout at dir with images, each named by its
// org.opencontainers.image.ref.name where the name is not empty.
func ociLayout(t *testing.T, dir string, images map[string]v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range images {
		var opts []layout.Option
		if ref != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref}))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImportableLayout(t *testing.T) {
	named, err := executableImage("one", []byte("first"), v1.Config{Entrypoint: []string{"/one"}})
	if err != nil {
		t.Fatal(err)
	}
	unnamed, err := executableImage("two", []byte("second"), v1.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	ociLayout(t, dir, map[string]v1.Image{"registry.example/app:v2": named, "": unnamed})
	tmp := filepath.Join(t.TempDir(), "image.tar")
	path, platformed, err := importable(dir, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if path != tmp || len(platformed) != 0 {
		t.Errorf("importable = %s, %q; want %s and no image given a platform", path, platformed, tmp)
	}
	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{"registry.example/app:v2"}) {
		t.Errorf("the tarball holds %+v, want the named image alone", manifest)
	}
	got := imageAt(t, path, "registry.example/app:v2")
	want, _ := named.ConfigName()
	if have, _ := got.ConfigName(); have != want {
		t.Errorf("config %s, want the layout's %s", have, want)
	}
	if content, _ := files(t, got); string(content["one"]) != "first" {
		t.Errorf("the layer holds %q", content)
	}
}

// withoutPlatform is an image of one layer, as crane append
// --oci-empty-base makes it: OCI media types and a config that names no
// os nor architecture.
func withoutPlatform(t *testing.T, bin string, content []byte) v1.Image {
	t.Helper()
	img, err := executableImage(bin, content, v1.Config{Entrypoint: []string{"/" + bin}})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	return withConfigPlatform(t, img, "", "")
}

// withConfigPlatform is img with the os and architecture its config names.
func withConfigPlatform(t *testing.T, img v1.Image, goos, goarch string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = goos, goarch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// dockerArchive writes images as a docker-archive tarball at path.
func dockerArchive(t *testing.T, path string, images map[string]v1.Image) {
	t.Helper()
	if err := writeTarball(path, images); err != nil {
		t.Fatal(err)
	}
}

// ociArchive writes images as an OCI archive at path: a tarball of their
// OCI layout.
func ociArchive(t *testing.T, path string, images map[string]v1.Image) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	ociLayout(t, dir, images)
	out, err := exec.Command("tar", "-C", dir, "-cf", path, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
}

func TestImportable(t *testing.T) {
	const ref = "localhost/kenv-test/app:v1"
	none := withoutPlatform(t, "app", []byte("program"))
	ours := withConfigPlatform(t, none, Platform.OS, Platform.Architecture)
	tests := []struct {
		name  string
		write func(t *testing.T, path string, images map[string]v1.Image)
		img   v1.Image
		// rewritten is whether importable writes a tarball of its own,
		// with the image given this machine's platform.
		rewritten bool
	}{
		{"docker-archive without platform", dockerArchive, none, true},
		{"docker-archive with only an architecture", dockerArchive, withConfigPlatform(t, none, "", Platform.Architecture), true},
		{"docker-archive of this platform", dockerArchive, ours, false},
		{"docker-archive of another platform", dockerArchive, withConfigPlatform(t, none, "linux", "s390x"), false},
		{"OCI archive without platform", ociArchive, none, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "app.tar")
			tt.write(t, file, map[string]v1.Image{ref: tt.img})
			tmp := filepath.Join(t.TempDir(), "image.tar")
			path, platformed, err := importable(file, tmp)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.rewritten {
				if path != file || len(platformed) != 0 {
					t.Errorf("importable = %s, %q; want the file itself, unchanged", path, platformed)
				}
				return
			}
			if path != tmp || !slices.Equal(platformed, []string{ref}) {
				t.Fatalf("importable = %s, %q; want %s with %s given a platform", path, platformed, tmp, ref)
			}
			cf, err := imageAt(t, path, ref).ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != Platform.OS || cf.Architecture != Platform.Architecture || !slices.Equal(cf.Config.Entrypoint, []string{"/app"}) {
				t.Errorf("config: %s/%s, entrypoint %q; want %s and /app", cf.OS, cf.Architecture, cf.Config.Entrypoint, Platform)
			}
		})
	}
}

func TestLayoutWithoutNames(t *testing.T) {
	img, err := executableImage("two", []byte("second"), v1.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	ociLayout(t, dir, map[string]v1.Image{"": img})
	// Import fails before it asks the runtime: no socket is needed.
	_, err = Import(context.Background(), filepath.Join(t.TempDir(), "no.sock"), dir, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), dir+": the layout's index names no image") || !strings.Contains(err.Error(), "tag the image when you save it") {
		t.Errorf("Import of a layout without names: %v", err)
	}
	if _, err := Import(context.Background(), filepath.Join(t.TempDir(), "no.sock"), filepath.Join(t.TempDir(), "missing.tar"), nil, io.Discard); !os.IsNotExist(err) {
		t.Errorf("Import of a missing file: %v", err)
	}
}

func TestBuildPause(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "pause.c")
	if err := os.WriteFile(src, []byte("#include <unistd.h>\nint main(void) { pause(); return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "images")
	var log bytes.Buffer
	if err := BuildPause(context.Background(), src, out, &log); err != nil {
		if strings.Contains(log.String(), "cannot find -lc") {
			t.Skip("no static C library (libc6-dev)")
		}
		t.Fatalf("%v\n%s", err, log.String())
	}
	img := imageAt(t, PauseTarball(out), PauseImage)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/pause"}) || cf.Config.User != "65535:65535" {
		t.Errorf("pause runs %q as %q", cf.Config.Entrypoint, cf.Config.User)
	}
	content, mode := files(t, img)
	if !bytes.HasPrefix(content["pause"], []byte("\x7fELF")) || mode["pause"] != 0o755 {
		t.Errorf("the layer's pause is not an executable program (mode %o)", mode["pause"])
	}

	// A tarball already there is kept: no compiler runs for a source that
	// is gone.
	before, _ := os.Stat(PauseTarball(out))
	if err := BuildPause(context.Background(), filepath.Join(dir, "gone.c"), out, &log); err != nil {
		t.Errorf("BuildPause with the tarball there: %v", err)
	}
	if after, _ := os.Stat(PauseTarball(out)); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the tarball was made again")
	}
}

// startContainerd runs this machine's containerd for the test, everything
// of it in a temporary directory, and returns its socket once it serves
// CRI. It skips the test where containerd cannot run.
func startContainerd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containerd")
	}
	if os.Geteuid() != 0 {
		t.Skip("containerd runs as root")
	}
	for _, c := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("no %s (Debian: apt-get install containerd)", c)
		}
	}
	dir := t.TempDir()
	socket := filepath.Join(dir, "containerd.sock")
	config := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket, socket+".ttrpc", filepath.Join(dir, "opt"), PauseImage), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("containerd", "--config", config)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.After(20 * time.Second)
	for {
		err := Ready(context.Background(), socket)
		if err == nil {
			return socket
		}
		select {
		case err := <-exited:
			t.Fatalf("containerd exited: %v\n%s", err, log.String())
		case <-deadline:
			t.Fatalf("containerd does not serve CRI: %v\n%s", err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// staticExecutable builds a program that prints its name, static, for an
// image's layer.
func staticExecutable(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"app\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module app\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", "app", ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	content, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	return content
}

// TestImportWithoutPlatform imports an image whose config names no
// platform, in each form kenv loads, into a real containerd: the kubelet's
// runtime then has it under its name, for this machine's platform.
func TestImportWithoutPlatform(t *testing.T) {
	socket := startContainerd(t)
	img := withoutPlatform(t, "app", staticExecutable(t))
	tests := []struct {
		name, ref string
		write     func(t *testing.T, path string, images map[string]v1.Image)
		// platformed is whether kenv gives the image this machine's
		// platform; containerd takes an OCI archive's as it is.
		platformed bool
	}{
		{"docker-archive", "localhost/kenv-test/docker:v1", dockerArchive, true},
		{"OCI layout", "localhost/kenv-test/layout:v1", func(t *testing.T, path string, images map[string]v1.Image) { ociLayout(t, path, images) }, true},
		{"OCI archive", "localhost/kenv-test/oci:v1", ociArchive, false},
	}
	conn, err := dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	images := cri.NewImageServiceClient(conn)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app")
			tt.write(t, path, map[string]v1.Image{tt.ref: img})
			var out bytes.Buffer
			platformed, err := Import(context.Background(), socket, path, nil, &out)
			if err != nil {
				t.Fatalf("Import: %v\n%s", err, out.String())
			}
			var want []string
			if tt.platformed {
				want = []string{tt.ref}
			}
			if !slices.Equal(platformed, want) {
				t.Errorf("Import gave %q a platform, want %q", platformed, want)
			}
			listed, err := exec.Command("ctr", "--address", socket, "--namespace", Namespace, "images", "ls", "--quiet").CombinedOutput()
			if err != nil {
				t.Fatalf("ctr images ls: %v: %s", err, listed)
			}
			if !slices.Contains(strings.Fields(string(listed)), tt.ref) {
				t.Errorf("namespace %s lists %q, not %s", Namespace, listed, tt.ref)
			}
			st, err := images.ImageStatus(context.Background(), &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: tt.ref}, Verbose: true})
			if err != nil {
				t.Fatalf("CRI ImageStatus %s: %v", tt.ref, err)
			}
			if !slices.Contains(st.GetImage().GetRepoTags(), tt.ref) {
				t.Fatalf("CRI has no image %s: %v", tt.ref, st.GetImage())
			}
			if tt.platformed {
				var info struct {
					ImageSpec struct{ OS, Architecture string }
				}
				if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil {
					t.Fatalf("CRI's verbose info: %v", err)
				}
				if info.ImageSpec.OS != Platform.OS || info.ImageSpec.Architecture != Platform.Architecture {
					t.Errorf("CRI has %s for %s/%s, want %s", tt.ref, info.ImageSpec.OS, info.ImageSpec.Architecture, Platform)
				}
			}
		})
	}

	t.Run("another platform", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s390x.tar")
		dockerArchive(t, path, map[string]v1.Image{"localhost/kenv-test/s390x:v1": withConfigPlatform(t, img, "linux", "s390x")})
		_, err := Import(context.Background(), socket, path, nil, io.Discard)
		want := fmt.Sprintf("%s: it holds no image for this machine's platform %s; build or save the image for %[2]s (docker build --platform %[2]s", path, Platform)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Import of an image for another platform: %v", err)
		}
	})
}
