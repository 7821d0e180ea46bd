#!/usr/bin/env bash
# Installs everything kube-router-ts needs on a Debian machine (run as root), then builds it.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(iptables ipset nftables conntrack iproute2 curl containernetworking-plugins bird2 gobgpd frr ipvsadm kmod openssl prometheus)
# The VM for what this kernel lacks (IPVS, ipip, fou): Debian's kernel under QEMU (test/vm/vm.ts).
DEBS+=(qemu-system-x86 linux-image-amd64 busybox-static cpio)
missing=()
for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No package may start a service on the host (prometheus would): the lab starts what it needs
  # inside its namespaces.
  policy_rc=/usr/sbin/policy-rc.d
  [ -e "$policy_rc" ] || { printf '#!/bin/sh\nexit 101\n' > "$policy_rc"; chmod +x "$policy_rc"; trap 'rm -f "$policy_rc"' EXIT; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
# The real Kubernetes control plane for the lab (kube-apiserver, kube-controller-manager, kubectl,
# kube-proxy, etcd), built from their Go modules once into .cache/control-plane (about 7 minutes on
# 2 cores the first time; nothing afterwards). KR_SKIP_CONTROL_PLANE=1 skips it: the lab then runs on
# the API server fixture.
if [ "${KR_SKIP_CONTROL_PLANE:-0}" != 1 ]; then
  bash scripts/control-plane/build.sh
fi
# kube-network-policies' NetworkPolicy evaluator from its Go module, for the firewall's differential
# test (about 2 minutes the first time; nothing afterwards).
bash scripts/knp-eval/build.sh
# The ClusterNetworkPolicy CRD (network-policy-api v0.2.0), which the lab installs on the real control plane.
bash scripts/network-policy-api/fetch.sh
