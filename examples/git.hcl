# kube-apiserver built from a git ref, under Delve.
#   kenv up -d examples/git.hcl
#   dlv connect 127.0.0.1:2345
# kenv mirrors the repository into its cache once, fetches again only for a
# ref it does not have, and builds the ref in a worktree of the mirror. A
# local repository works as well: git = "../../kubernetes", relative to this
# file. The version kube-apiserver reports comes from git, as upstream.
name = "git"

kubernetes {
  git = "https://github.com/kubernetes/kubernetes.git"
  ref = "v1.34.4"                   # a tag, a branch or a commit
}

component "kube-apiserver" {
  debug {}
}

component "kube-controller-manager" {}
component "kube-scheduler" {}
