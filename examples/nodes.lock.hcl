# Written by kenv for nodes.hcl: what `kenv up` builds it from. Commit it with the spec.
# When the spec changes, `kenv lock --update nodes.hcl` locks it anew.

kubernetes {
  version    = "v1.34.4"
  go         = "1.24.12"
  build_date = "2026-02-10T12:53:36Z"

  module "k8s.io/kubernetes" {
    version = "v1.34.4"
    sum     = "h1:Yy6R4QB8C9kJPp25GFqEvX5XQwY5qzKeqD0Xx6oAcmk="
  }

  module "k8s.io/api" {
    version = "v0.34.4"
    sum     = "h1:Z5hsoQcZ2yBjelb9j5JKzCVo9qv9XLkVm5llnqS4h+0="
  }

  module "k8s.io/apiextensions-apiserver" {
    version = "v0.34.4"
    sum     = "h1:TAh2mEduc27sR7lfEthOL2oNeQuux9pQCEJCVC9Gxrs="
  }

  module "k8s.io/apimachinery" {
    version = "v0.34.4"
    sum     = "h1:C5SiSzLEMyWIk53sSbnk0WlOOyqv/MFnWvuc/d6M+xc="
  }

  module "k8s.io/apiserver" {
    version = "v0.34.4"
    sum     = "h1:QmMakuCjlFBJpsXKIUom8OUE7+PhZk7hyNiLqlyDH58="
  }

  module "k8s.io/cli-runtime" {
    version = "v0.34.4"
    sum     = "h1:QdGWDtJENTskib2Ab304Xwklv+lk4mxz+fd2ng36lZY="
  }

  module "k8s.io/client-go" {
    version = "v0.34.4"
    sum     = "h1:IXhvzFdm0e897kXtLbeyMpAGzontcShJ/gi/XCCsOLc="
  }

  module "k8s.io/cloud-provider" {
    version = "v0.34.4"
    sum     = "h1:E/MqgeR/oeXMvLMfGcEKtWQjVNBljMcJ58TvBtFVbLs="
  }

  module "k8s.io/cluster-bootstrap" {
    version = "v0.34.4"
    sum     = "h1:TI9uIyvHITiAHorZMwEjPMsSIucKwImNxvbsIbTo094="
  }

  module "k8s.io/code-generator" {
    version = "v0.34.4"
    sum     = "h1:ri/HSQ1eCQ40pqTQ4HeEiC8UR/SaftH/syav9RL4b+c="
  }

  module "k8s.io/component-base" {
    version = "v0.34.4"
    sum     = "h1:jP4XqR48YelfXIlRpOHQgms5GebU23zSE6xcvTwpXDE="
  }

  module "k8s.io/component-helpers" {
    version = "v0.34.4"
    sum     = "h1:NsYzF6cDjmACfNLhPuInNSeUhCOERZWITvWb4sQPpmE="
  }

  module "k8s.io/controller-manager" {
    version = "v0.34.4"
    sum     = "h1:eBj1Obdj29dS6rtk69jzdnTtu5L7RYwzU6QSiQ2bH4Y="
  }

  module "k8s.io/cri-api" {
    version = "v0.34.4"
    sum     = "h1:YIiP2h3cehobdnjig19IdKgXJGzeTK2j9VSwH+tfhz4="
  }

  module "k8s.io/cri-client" {
    version = "v0.34.4"
    sum     = "h1:Sy6gyeYitGvdswpMi1vM2iHSYk9PUyLsr5qrYG4HeVo="
  }

  module "k8s.io/csi-translation-lib" {
    version = "v0.34.4"
    sum     = "h1:7vldYwrJku7qmo0IBOPqnvTlSToJX6zIZbb8AvdtIW4="
  }

  module "k8s.io/dynamic-resource-allocation" {
    version = "v0.34.4"
    sum     = "h1:sATlV5Zppo/mLJZAGaCwpcaS7G2b1Q6N+sz6Z8iLoqw="
  }

  module "k8s.io/endpointslice" {
    version = "v0.34.4"
    sum     = "h1:eMC/S0j/LoRQZCu+HDRHpkXwRUwrU82SoI5rGDDW8jQ="
  }

  module "k8s.io/externaljwt" {
    version = "v0.34.4"
    sum     = "h1:hocCPUjDCQVxkbmwdTcE+nckBAYyaJ+W0dnRxTs55DA="
  }

  module "k8s.io/kms" {
    version = "v0.34.4"
    sum     = "h1:jF1s1e0CZsM8UXtzqz8JYIBhI4EQIvZHQ15K28StUJA="
  }

  module "k8s.io/kube-aggregator" {
    version = "v0.34.4"
    sum     = "h1:b2Y07+HfImko/ru5BSMsWOSndGJ7+gc5AyZe/rgc+wI="
  }

  module "k8s.io/kube-controller-manager" {
    version = "v0.34.4"
    sum     = "h1:vToHfS/P6RtJVR32SjQ7YvwEm6vc9ysORG/mvyx+ZAU="
  }

  module "k8s.io/kube-proxy" {
    version = "v0.34.4"
    sum     = "h1:i6qeYH92t7n2Tc5FqZKE1NDTJwCLUHya/C+jgB7FrG8="
  }

  module "k8s.io/kube-scheduler" {
    version = "v0.34.4"
    sum     = "h1:7jbPcmUi8de9RJCRweBjVKQZGcrZmqtexed9DFUp3hU="
  }

  module "k8s.io/kubectl" {
    version = "v0.34.4"
    sum     = "h1:60NkmD2prPpAJIl81CO6QkQXJ2UlhH5LGIpFxlqK9D8="
  }

  module "k8s.io/kubelet" {
    version = "v0.34.4"
    sum     = "h1:+8aLwtoZSUnE7HLxjrAYNtlJFzlwxQ4UBleyaW4JzA8="
  }

  module "k8s.io/metrics" {
    version = "v0.34.4"
    sum     = "h1:u/0EwE8M1BHwlfDUjyAlDInm8Y545lQ6lU2bZTvq/tE="
  }

  module "k8s.io/mount-utils" {
    version = "v0.34.4"
    sum     = "h1:vKIlbZmA1hDeHNPjEupkRFWra0ezwMum84GHiMdHIus="
  }

  module "k8s.io/pod-security-admission" {
    version = "v0.34.4"
    sum     = "h1:p0mjfXZHtknqO+imC4/jz9XOSxLB8B/sWnxMYAcNyao="
  }

  module "k8s.io/sample-apiserver" {
    version = "v0.34.4"
    sum     = "h1:gYEcaxmgz5muvoV4I+o6CGCXENNr8TgCUqMa6xsNL3A="
  }
}

build {
  debug      = true
  optimize   = ["std"]
  go_version = "go1.24.12"
  settings = {
    "-buildmode" = "exe"
    "-compiler"  = "gc"
    "-gcflags"   = "std="
    "-ldflags"   = "all=-X 'k8s.io/client-go/pkg/version.gitVersion=v1.34.4' -X 'k8s.io/client-go/pkg/version.gitMajor=1' -X 'k8s.io/client-go/pkg/version.gitMinor=34' -X 'k8s.io/client-go/pkg/version.buildDate=2026-02-10T12:53:36Z' -X 'k8s.io/component-base/version.gitVersion=v1.34.4' -X 'k8s.io/component-base/version.gitMajor=1' -X 'k8s.io/component-base/version.gitMinor=34' -X 'k8s.io/component-base/version.buildDate=2026-02-10T12:53:36Z'"
    "-tags"      = "selinux,notest"
    "-trimpath"  = "true"
    CGO_ENABLED  = "0"
    GOAMD64      = "v1"
    GOARCH       = "amd64"
    GOOS         = "linux"
  }

  binary "kube-apiserver" {
    sha256  = "ab6814d1e9c8b87332e06594f41b2f7f3724671b73200562f88855ab9f72e77c"
    modules = "4a6ce9108d2dfdb4"
  }

  binary "kube-controller-manager" {
    sha256  = "a0c370ea9ca72128ea83b56b24e1639229597632284ab2614ba94a827a3a3c29"
    modules = "5402f1d299150671"
  }

  binary "kube-proxy" {
    sha256  = "d01c4487a7afc682d40f88ef85cdf55a7506f8a6b6b1a20140e250ff18f2c894"
    modules = "fc7ed3057ff92c85"
  }

  binary "kube-scheduler" {
    sha256  = "61c34a658988067ef123faad07f9275ce762778e99e77274a3593d0b0abf4380"
    modules = "2a773124face9e66"
  }

  binary "kubectl" {
    sha256  = "8a838389191a0841a27ad7e1988cdf70405543cb6bc826ff10037b7b2d06249c"
    modules = "dd855e11b5788ddf"
  }

  binary "kubelet" {
    modules = "a85e0f32856c0a8b"
    settings = {
      CGO_ENABLED = "1"
    }
  }
}

delve = {
  kubelet = "v1.26.2"
}

coredns = "v1.12.1"
