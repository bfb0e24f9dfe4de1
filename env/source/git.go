package source

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// gitVersion derives the version ldflags of the checkout at dir the way
// hack/lib/version.sh does: the commit, whether the tree is clean, and
// `git describe` turned into semver, with "-dirty" for a dirty tree. The
// build date is the commit's, so builds of one commit report one date.
func gitVersion(ctx context.Context, dir string) (Version, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
			}
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	commit, err := git("rev-parse", "HEAD^{commit}")
	if err != nil {
		return Version{}, err
	}
	status, err := git("status", "--porcelain")
	if err != nil {
		return Version{}, err
	}
	v := Version{GitCommit: commit, GitTreeState: "clean"}
	if status != "" {
		v.GitTreeState = "dirty"
	}
	when, err := git("show", "-s", "--format=%ct", commit)
	if err != nil {
		return Version{}, err
	}
	var secs int64
	fmt.Sscan(when, &secs)
	v.BuildDate = time.Unix(secs, 0).UTC().Format(time.RFC3339)

	described, err := git("describe", "--tags", "--match=v*", "--abbrev=14", commit+"^{commit}")
	if err != nil {
		// No tag: version.sh leaves the version unset too.
		return v, nil
	}
	v.GitVersion = semverOfDescribe(described)
	if v.GitTreeState == "dirty" {
		v.GitVersion += "-dirty"
	}
	v.GitMajor, v.GitMinor = semverParts(v.GitVersion)
	return v, nil
}

var (
	describeWithPre = regexp.MustCompile(`^(v\d+\.\d+\.\d+-[^-]+)-(\d+)-g([0-9a-f]+)$`)
	describePlain   = regexp.MustCompile(`^(v\d+\.\d+\.\d+)-(\d+)-g([0-9a-f]+)$`)
)

// semverOfDescribe turns `git describe` output into semver as version.sh
// does: vX.Y.Z-pre-N-gHASH becomes vX.Y.Z-pre.N+HASH, vX.Y.Z-N-gHASH
// becomes vX.Y.Z-N+HASH; a tag itself stays as it is.
func semverOfDescribe(d string) string {
	if m := describeWithPre.FindStringSubmatch(d); m != nil {
		return fmt.Sprintf("%s.%s+%s", m[1], m[2], m[3])
	}
	if m := describePlain.FindStringSubmatch(d); m != nil {
		return fmt.Sprintf("%s-%s+%s", m[1], m[2], m[3])
	}
	return d
}
