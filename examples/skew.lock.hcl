# Written by kenv for skew.hcl: what `kenv up` builds it from. Commit it with the spec.
# When the spec changes, `kenv lock --update skew.hcl` locks it anew.

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
}

kwok = "v0.8.0"

component "kube-scheduler" {
  kubernetes {
    version    = "v1.33.13"
    go         = "1.25.11"
    build_date = "2026-06-11T16:59:07Z"

    module "k8s.io/kubernetes" {
      version = "v1.33.13"
      sum     = "h1:bmH31xUdSzeA5vk0wZAK9MZp11mdLuzUSeKk0qN3hPQ="
    }

    module "k8s.io/api" {
      version = "v0.33.13"
      sum     = "h1:Au/I/J8SXmcCBxp+KiS82451AEaKjVHouB1x3lUm1Wk="
    }

    module "k8s.io/apiextensions-apiserver" {
      version = "v0.33.13"
      sum     = "h1:T/79+dR0xlAEvx2Uf3EbWViMGy+NlFNmU05k8UEbrYk="
    }

    module "k8s.io/apimachinery" {
      version = "v0.33.13"
      sum     = "h1:e15J9pNLORqlAQ3/D2QdXvMTHJLl0PxDhike6iNcw20="
    }

    module "k8s.io/apiserver" {
      version = "v0.33.13"
      sum     = "h1:U4w4RKdwzsBeETIGGWV5y3LrPzhUwRw0X5fylRO0dOo="
    }

    module "k8s.io/cli-runtime" {
      version = "v0.33.13"
      sum     = "h1:rQeMqtl8Lq0D9VIXnoR21KwfnoBZpKUv+XaRADvqqgA="
    }

    module "k8s.io/client-go" {
      version = "v0.33.13"
      sum     = "h1:gyirIFpLEF9RltmrUkkObQFkxeumU2hRcxiDsVfrf1w="
    }

    module "k8s.io/cloud-provider" {
      version = "v0.33.13"
      sum     = "h1:/KeHOuR4eAHfwtZfwMc3q8aKHYDhSi/b0+R5DMvTwJ0="
    }

    module "k8s.io/cluster-bootstrap" {
      version = "v0.33.13"
      sum     = "h1:Vlgp4CJMm6pyYsiP7H8udYvJEkCZUQ1HMSrQoySRcA0="
    }

    module "k8s.io/code-generator" {
      version = "v0.33.13"
      sum     = "h1:Sh43djpZsCbl5pnyItPTg9lkI7MoaWWskSKEI+EBvJU="
    }

    module "k8s.io/component-base" {
      version = "v0.33.13"
      sum     = "h1:WPsAyiWqSs2q06BDz5esM2FGchCMz5lxsQlLu6h9D4o="
    }

    module "k8s.io/component-helpers" {
      version = "v0.33.13"
      sum     = "h1:tJYLJKzb2zXoL4aLwJ4T0ySoFlLGwfS0VgoqImsYgrE="
    }

    module "k8s.io/controller-manager" {
      version = "v0.33.13"
      sum     = "h1:jJFY9aNN26QWXV3N6joNd7jJOdHEDiPHgNvpCbhs2D0="
    }

    module "k8s.io/cri-api" {
      version = "v0.33.13"
      sum     = "h1:CWYbi901N93b3JJljKchDmIbpcIsd8PF10SFBeJqRXw="
    }

    module "k8s.io/cri-client" {
      version = "v0.33.13"
      sum     = "h1:lKxc84WvdDBgZY58FarIJ/QH4TjSl7/MkfDZd/1vSxI="
    }

    module "k8s.io/csi-translation-lib" {
      version = "v0.33.13"
      sum     = "h1:yfypxXuNlaJUlH0J9Ps5Gq7VU/JLzjRsf6NDIJd6F0s="
    }

    module "k8s.io/dynamic-resource-allocation" {
      version = "v0.33.13"
      sum     = "h1:l8g2YnWQ9q2fUe5JgBPG/LzSMsPpUT48V7F7q37LuCg="
    }

    module "k8s.io/endpointslice" {
      version = "v0.33.13"
      sum     = "h1:PpUpVmOhfZKlja4YqtELPATa5y4B+ybZCICY1ZW/D6s="
    }

    module "k8s.io/externaljwt" {
      version = "v0.33.13"
      sum     = "h1:am/RvFOHBeCkBR1zTzffaoYBE6ENSjfFfir9t5scYnU="
    }

    module "k8s.io/kms" {
      version = "v0.33.13"
      sum     = "h1:3iOoN/SItJgPGEZKugYrTiPVcMNVyfkY/8PUosnulh0="
    }

    module "k8s.io/kube-aggregator" {
      version = "v0.33.13"
      sum     = "h1:1rdV0vCsSndHGGygZtCalsoLKD2hcXcLgrG/9TOoQ4I="
    }

    module "k8s.io/kube-controller-manager" {
      version = "v0.33.13"
      sum     = "h1:MEaRkq0nwd2quJ9YpP0LKE+Hww3/BhWAGcZlwpzzrSg="
    }

    module "k8s.io/kube-proxy" {
      version = "v0.33.13"
      sum     = "h1:wx1gOywlsj6YovZtBOfaXQV5PIj4yRGVECmacQNo+LU="
    }

    module "k8s.io/kube-scheduler" {
      version = "v0.33.13"
      sum     = "h1:LkIYb1UPpc6QIu0Jftil9aaQBbgsx3fYSYYvBe/FolA="
    }

    module "k8s.io/kubectl" {
      version = "v0.33.13"
      sum     = "h1:6RLgHYABIYqOccAyg8beGJgY48oXlrKl0kTmDrSerYc="
    }

    module "k8s.io/kubelet" {
      version = "v0.33.13"
      sum     = "h1:5JHlQPEIMhtxOJw0wu4gB6uWYW/4mOiW/mPv3KNY1zU="
    }

    module "k8s.io/metrics" {
      version = "v0.33.13"
      sum     = "h1:Qvrx0RXQ0mKvSx+v7C8F5aZCOIuOyJ6BJ8FHq8LQzok="
    }

    module "k8s.io/mount-utils" {
      version = "v0.33.13"
      sum     = "h1:1etrX+dHfXqJrkWw5Z1Osae6ROL2H46kzvCTtVeXLD4="
    }

    module "k8s.io/pod-security-admission" {
      version = "v0.33.13"
      sum     = "h1:1N/ofqrp83BrTyyT01W5LABU0MSgkWLN+QKL9WriCKU="
    }

    module "k8s.io/sample-apiserver" {
      version = "v0.33.13"
      sum     = "h1:sIVPaUTDkNxVOnZWqFbVkG2EmNE4s37NfQzfGT1LAm0="
    }
  }

  build {
    debug      = true
    optimize   = ["std"]
    go_version = "go1.25.11"
    settings = {
      "-buildmode"   = "exe"
      "-compiler"    = "gc"
      "-gcflags"     = "std="
      "-ldflags"     = "all=-X 'k8s.io/client-go/pkg/version.gitVersion=v1.33.13' -X 'k8s.io/client-go/pkg/version.gitMajor=1' -X 'k8s.io/client-go/pkg/version.gitMinor=33' -X 'k8s.io/client-go/pkg/version.buildDate=2026-06-11T16:59:07Z' -X 'k8s.io/component-base/version.gitVersion=v1.33.13' -X 'k8s.io/component-base/version.gitMajor=1' -X 'k8s.io/component-base/version.gitMinor=33' -X 'k8s.io/component-base/version.buildDate=2026-06-11T16:59:07Z'"
      "-tags"        = "selinux,notest"
      "-trimpath"    = "true"
      CGO_ENABLED    = "0"
      DefaultGODEBUG = "containermaxprocs=0,decoratemappings=0,tlssha1=1,updatemaxprocs=0,x509sha256skid=0"
      GOAMD64        = "v1"
      GOARCH         = "amd64"
      GOOS           = "linux"
    }

    binary "kube-scheduler" {
      sha256  = "62f6fd3d33826dbcc65224f1a47a114c30df4d0ab73ee0402f7b2d686dee8049"
      modules = "b330cf84578b1a84"
    }
  }

  delve = {
    kube-scheduler = "v1.27.2"
  }
}
