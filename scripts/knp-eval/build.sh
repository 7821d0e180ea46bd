#!/usr/bin/env bash
# Builds knp-eval: kube-network-policies' own NetworkPolicy packet evaluation (its Go module, pinned
# below) behind a line protocol, for the firewall's differential test. Its evaluator is internal to
# its package, so a build-time copy of the module gets one more file (export.go, ours) that exposes
# it; nothing of that project is kept in this repository. Into a git-ignored cache folder named after
# the version; does nothing when the binary is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version=v0.8.0
out="${KR_KNP_EVAL_CACHE:-$root/.cache/knp-eval}/kube-network-policies-$version"
if [ -x "$out/bin/knp-eval" ]; then
  echo "knp-eval: kube-network-policies $version already built in $out"
  exit 0
fi
command -v go >/dev/null || { echo "knp-eval: Go is needed to build it (go not found)" >&2; exit 1; }
start=$(date +%s)
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$out/bin" "$out/src"
echo "knp-eval: fetching sigs.k8s.io/kube-network-policies@$version"
dir="$(cd "$out/src" && go mod download -json "sigs.k8s.io/kube-network-policies@$version" | sed -n 's/.*"Dir": *"\([^"]*\)".*/\1/p')"
rm -rf "$out/src/knp"
cp -r "$dir" "$out/src/knp"
chmod -R u+w "$out/src/knp"
cp "$here/export.go" "$out/src/knp/pkg/networkpolicy/zz_kube_router_export.go"
cp "$here/main.go" "$out/src/main.go"
cat > "$out/src/go.mod" <<GOMOD
module kube-router-ts/knp-eval

go 1.26

require sigs.k8s.io/kube-network-policies $version

replace sigs.k8s.io/kube-network-policies => ./knp
GOMOD
(cd "$out/src" && go mod tidy >/dev/null 2>&1 || (cd "$out/src" && go mod tidy))
(cd "$out/src" && go build -trimpath -ldflags "-s -w" -o "$out/bin/knp-eval.tmp" .)
mv "$out/bin/knp-eval.tmp" "$out/bin/knp-eval"
echo "knp-eval: built in $(( $(date +%s) - start )) s: $out/bin/knp-eval"
