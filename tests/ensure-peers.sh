#!/usr/bin/env bash
# Makes sure the real third-party peers the test suite runs against are installed:
# Debian's docker-registry (distribution 2.8), skopeo, podman and redis-server (the shared-state
# backend), and systemd's systemd-analyze
# (which verifies and scores etc/registry-token.service). Installs missing ones with apt-get
# when running as root; otherwise says exactly what to install and fails (tests never skip).
set -euo pipefail

declare -A package_of=(
  [docker-registry]=docker-registry [skopeo]=skopeo [podman]=podman [redis-server]=redis-server
  [systemd-analyze]=systemd
  [prometheus]=prometheus [promtool]=prometheus
)
missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "ensure-peers: missing ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "ensure-peers: installing ${missing[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian package enables a system registry on install; the tests run their own in the
# foreground on loopback, so keep the system one off.
# The same for redis-server: the tests start their own, in the foreground on a free port.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
  systemctl disable --now redis-server >/dev/null 2>&1 || true
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
# Without systemd (a container), the package's init script may still have started one.
if command -v service >/dev/null 2>&1; then
  service redis-server stop >/dev/null 2>&1 || true
  service prometheus stop >/dev/null 2>&1 || true
fi
