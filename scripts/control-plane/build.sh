#!/usr/bin/env bash
# Builds the real Kubernetes control plane the lab runs on (kube-apiserver, kube-controller-manager,
# kubectl, kube-proxy from k8s.io/kubernetes; etcd from go.etcd.io/etcd/server/v3) from their Go
# modules, into a git-ignored cache folder named after the pinned versions (versions.json, the one
# place they are set). Does nothing when that folder already holds every binary.
#
# k8s.io/kubernetes cannot be built as a dependency as it is: its go.mod points its staging modules
# (k8s.io/api, k8s.io/client-go, ...) at ./staging paths. Our throwaway module requires it and
# replaces each of those with the staging module's published version (v0.Y.Z for v1.Y.Z).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
k8s="$(sed -n 's/.*"kubernetes": *"\([^"]*\)".*/\1/p' "$here/versions.json")"
etcd="$(sed -n 's/.*"etcd": *"\([^"]*\)".*/\1/p' "$here/versions.json")"
cache="${KR_CONTROL_PLANE_CACHE:-$root/.cache/control-plane}"
out="$cache/kubernetes-$k8s-etcd-$etcd"
bins=(kube-apiserver kube-controller-manager kubectl kube-proxy etcd)

have_all() { for b in "${bins[@]}"; do [ -x "$out/bin/$b" ] || return 1; done; }
if have_all; then
  echo "control plane: kubernetes $k8s, etcd $etcd already built in $out"
  exit 0
fi
command -v go >/dev/null || { echo "control plane: Go is needed to build it (go not found)" >&2; exit 1; }

start=$(date +%s)
step() { echo "control plane: [$(( $(date +%s) - start ))s] $*"; }
mkdir -p "$out/bin" "$out/src/k8s" "$out/src/etcd"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

step "kubernetes $k8s: resolving modules"
gomod="$(cd "$out/src/k8s" && go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": *"\([^"]*\)".*/\1/p')"
minor="v0.${k8s#v1.}"
{
  echo "module kube-router-ts/control-plane"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes $k8s"
  echo
  grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk -v v="$minor" '{ print "replace " $1 " => " $1 " " v }'
} > "$out/src/k8s/go.mod"
cat > "$out/src/k8s/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
(cd "$out/src/k8s" && go mod tidy -e >/dev/null 2>&1 || go mod tidy)
for b in kube-apiserver kube-controller-manager kubectl kube-proxy; do
  [ -x "$out/bin/$b" ] && continue
  step "building $b"
  (cd "$out/src/k8s" && go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/client-go/pkg/version.gitVersion=$k8s" -o "$out/bin/$b.tmp" "k8s.io/kubernetes/cmd/$b")
  mv "$out/bin/$b.tmp" "$out/bin/$b"
done

if [ ! -x "$out/bin/etcd" ]; then
  step "etcd $etcd: resolving modules"
  cat > "$out/src/etcd/go.mod" <<GOMOD
module kube-router-ts/etcd

go 1.26

require go.etcd.io/etcd/server/v3 $etcd
GOMOD
  cat > "$out/src/etcd/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$out/src/etcd" && go mod tidy >/dev/null)
  step "building etcd"
  (cd "$out/src/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/bin/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$out/bin/etcd.tmp" "$out/bin/etcd"
fi
step "done: kubernetes $k8s, etcd $etcd in $out/bin (took $(( $(date +%s) - start ))s)"
