package node

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

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
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
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
	cf.OS, cf.Architecture, cf.Config = "linux", runtime.GOARCH, config
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

// Import imports the image tarball at path (docker save's, or an OCI
// archive) into the runtime at socket, with the named images pinned. An
// OCI layout directory is written as a tarball first: the images its
// index names by org.opencontainers.image.ref.name.
func Import(ctx context.Context, socket, path string, pin []string, out io.Writer) error {
	if info, err := os.Stat(path); err != nil {
		return err
	} else if info.IsDir() {
		tmp, err := os.MkdirTemp("", "kenv-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		tb := filepath.Join(tmp, "image.tar")
		if err := layoutToTarball(path, tb); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		path = tb
	}
	if err := ctr(ctx, socket, out, "images", "import", path); err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	for _, ref := range pin {
		if err := ctr(ctx, socket, out, "images", "label", ref, pinned); err != nil {
			return fmt.Errorf("pin %s: %w", ref, err)
		}
	}
	return nil
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

// layoutToTarball writes the named images of the OCI layout at dir as a
// docker-archive tarball.
func layoutToTarball(dir, path string) error {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return err
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	images := map[string]v1.Image{}
	for _, d := range manifest.Manifests {
		ref := d.Annotations["org.opencontainers.image.ref.name"]
		if ref == "" || !d.MediaType.IsImage() {
			continue
		}
		if images[ref], err = idx.Image(d.Digest); err != nil {
			return err
		}
	}
	if len(images) == 0 {
		return fmt.Errorf("the layout's index names no image (annotation org.opencontainers.image.ref.name); tag the image when you save it")
	}
	return writeTarball(path, images)
}
