#!/usr/bin/env bash
# Fetches the ClusterNetworkPolicy CRD (policy.networking.k8s.io/v1alpha2) from the network-policy-api
# Go module at the pinned version into a git-ignored cache folder; `lab up` installs it on the real
# control plane. Its experimental channel: the standard fields plus the nodes and domainNames peers,
# which the firewall refuses with a reason. Nothing of that project is kept in this repository.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
version=v0.2.0
out="${KR_NPA_CACHE:-$root/.cache/network-policy-api}/$version"
file="$out/experimental-policy.networking.k8s.io_clusternetworkpolicies.yaml"
if [ -s "$file" ]; then
  echo "network-policy-api: $version CRD already in $out"
  exit 0
fi
command -v go >/dev/null || { echo "network-policy-api: Go is needed to fetch it (go not found)" >&2; exit 1; }
mkdir -p "$out"
dir="$(cd "$out" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "sigs.k8s.io/network-policy-api@$version" | sed -n 's/.*"Dir": *"\([^"]*\)".*/\1/p')"
cp "$dir/config/crd/experimental/policy.networking.k8s.io_clusternetworkpolicies.yaml" "$file.tmp"
mv "$file.tmp" "$file"
echo "network-policy-api: $version CRD in $file"
