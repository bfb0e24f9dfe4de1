package node

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// PauseImage is the name of the pause image kenv builds from the tree and
// the runtime runs as every pod's sandbox.
const PauseImage = "localhost/kenv/pause:latest"

// Namespace is the containerd namespace of the kubelet's containers and
// images.
const Namespace = "k8s.io"

// pinned is the label that keeps an image from the kubelet's image
// garbage collection.
const pinned = "io.cri-containerd.pinned=pinned"

// PauseTarball is the pause image's tarball in dir.
func PauseTarball(dir string) string { return filepath.Join(dir, "pause.tar") }

// BuildPause compiles the tree's pause.c as upstream does (static, -Os)
// into dir and makes it the one-layer image PauseImage, as the tarball
// PauseTarball(dir). A tarball already there is kept.
func BuildPause(ctx context.Context, src, dir string, out io.Writer) error {
	if _, err := os.Stat(PauseTarball(dir)); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(dir, "pause")
	cmd := exec.CommandContext(ctx, "gcc", "-Os", "-Wall", "-Werror", "-static", "-DVERSION=kenv", "-o", bin, src)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gcc %s: %w", src, err)
	}
	return ExecutableImage(PauseTarball(dir), PauseImage, bin, v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"})
}

// ExecutableImage writes the image ref as a docker-archive tarball at
// path: one layer that holds the executable file bin at its root, of this
// machine's platform, run with config.
func ExecutableImage(path, ref, bin string, config v1.Config) error {
	content, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	img, err := executableImage(filepath.Base(bin), content, config)
	if err != nil {
		return err
	}
	return writeTarball(path, map[string]v1.Image{ref: img})
}

// executableImage is ExecutableImage's image. crane.Layer would write the
// file with mode 0, not executable.
func executableImage(name string, content []byte, config v1.Config) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	// From memory: LayerFromReader would buffer it in a temporary file
	// it never removes.
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = Platform.OS, Platform.Architecture, config
	return mutate.ConfigFile(img, cf)
}

// writeTarball writes images, by name, as one docker-archive tarball at
// path, whole or not at all.
func writeTarball(path string, images map[string]v1.Image) error {
	refs := map[name.Reference]v1.Image{}
	for n, img := range images {
		tag, err := name.NewTag(n)
		if err != nil {
			return err
		}
		refs[tag] = img
	}
	tmp := path + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// Platform is the platform of this machine's node, the one its containerd
// imports and runs.
var Platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}

// Import imports the image tarball at path (docker save's, or an OCI
// archive) into the runtime at socket, with the named images pinned. An
// OCI layout directory is written as a tarball first: the images its
// index names by org.opencontainers.image.ref.name.
//
// An image of a tarball or layout whose config names no platform (crane
// append --oci-empty-base makes one) is given Platform, and so a new
// config and image ID: containerd would otherwise filter it out of a
// docker-archive, as of any other platform. Import returns the names of
// the images it gave Platform.
func Import(ctx context.Context, socket, path string, pin []string, out io.Writer) (platformed []string, err error) {
	tmp, err := os.MkdirTemp("", "kenv-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	file, platformed, err := importable(path, filepath.Join(tmp, "image.tar"))
	if err != nil {
		return nil, err
	}
	if err := ctr(ctx, socket, out, "images", "import", file); err != nil {
		if strings.Contains(err.Error(), "image might be filtered out") {
			return nil, fmt.Errorf("import %[1]s: it holds no image for this machine's platform %[2]s; build or save the image for %[2]s (docker build --platform %[2]s, docker save --platform %[2]s): %[3]w", path, Platform, err)
		}
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	for _, ref := range pin {
		if err := ctr(ctx, socket, out, "images", "label", ref, pinned); err != nil {
			return nil, fmt.Errorf("pin %s: %w", ref, err)
		}
	}
	return platformed, nil
}

// Tag gives the image src, in the runtime at socket, the name dst as
// well, pinned: what a pod names dst runs src, with nothing to pull.
func Tag(ctx context.Context, socket, src, dst string, out io.Writer) error {
	if err := ctr(ctx, socket, out, "images", "tag", "--force", src, dst); err != nil {
		return err
	}
	return ctr(ctx, socket, out, "images", "label", dst, pinned)
}

// PlatformNote says that Import gave the image ref Platform.
func PlatformNote(ref string) string {
	return fmt.Sprintf("%s names no platform; loaded as %s, this machine's, with a new image ID", ref, Platform)
}

// importable is the tarball ctr is to import for the file or OCI layout
// at path, and the names of the images it gave Platform: the file itself
// where nothing is to change, else a docker-archive it writes at tmp.
func importable(path, tmp string) (file string, platformed []string, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", nil, err
	}
	var images map[string]v1.Image
	if info.IsDir() {
		if images, err = layoutImages(path); err != nil {
			return "", nil, fmt.Errorf("%s: %w", path, err)
		}
	} else if images = dockerArchiveImages(path); images == nil {
		// containerd imports an OCI archive's images whatever their
		// config says: its index gives them no platform to filter by.
		return path, nil, nil
	}
	if platformed, err = withPlatform(images); err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	if !info.IsDir() && len(platformed) == 0 {
		return path, nil, nil
	}
	if err := writeTarball(tmp, images); err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	return tmp, platformed, nil
}

// withPlatform gives each image that names no platform, or only half of
// one, Platform's os and architecture where its config leaves them empty;
// it returns their names, sorted.
func withPlatform(images map[string]v1.Image) ([]string, error) {
	var platformed []string
	for _, ref := range slices.Sorted(maps.Keys(images)) {
		cf, err := images[ref].ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		if cf.OS != "" && cf.Architecture != "" {
			continue
		}
		cf = cf.DeepCopy()
		if cf.OS == "" {
			cf.OS = Platform.OS
		}
		if cf.Architecture == "" {
			cf.Architecture = Platform.Architecture
		}
		if images[ref], err = mutate.ConfigFile(images[ref], cf); err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		platformed = append(platformed, ref)
	}
	return platformed, nil
}

// dockerArchiveImages are the named images of the docker-archive tarball
// at path (docker save's, podman's, go-containerregistry's); nil for a
// file ctr reads as an OCI archive (it has an oci-layout file, as docker
// save's has since Docker 25), or one that is no tarball kenv can read:
// ctr is left to say what is wrong with it.
func dockerArchiveImages(path string) map[string]v1.Image {
	if oci, err := hasOCILayout(path); err != nil || oci {
		return nil
	}
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil
	}
	images := map[string]v1.Image{}
	for _, d := range manifest {
		for _, ref := range d.RepoTags {
			tag, err := name.NewTag(ref)
			if err != nil {
				return nil
			}
			if images[ref], err = tarball.Image(opener, &tag); err != nil {
				return nil
			}
		}
	}
	return images
}

// hasOCILayout reports whether the tarball file has an oci-layout file
// at its root, which makes containerd read it as an OCI archive.
func hasOCILayout(file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if path.Clean(h.Name) == "oci-layout" {
			return true, nil
		}
	}
}

func ctr(ctx context.Context, socket string, out io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", socket, "--namespace", Namespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, io.MultiWriter(out, &stderr)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ctr %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// layoutImages are the images of the OCI layout at dir that its index
// names.
func layoutImages(dir string) (map[string]v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	images := map[string]v1.Image{}
	for _, d := range manifest.Manifests {
		ref := d.Annotations["org.opencontainers.image.ref.name"]
		if ref == "" || !d.MediaType.IsImage() {
			continue
		}
		if images[ref], err = idx.Image(d.Digest); err != nil {
			return nil, err
		}
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("the layout's index names no image (annotation org.opencontainers.image.ref.name); tag the image when you save it")
	}
	return images, nil
}
