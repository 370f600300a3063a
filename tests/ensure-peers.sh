#!/usr/bin/env bash
# Makes sure the real third-party peers the test suite runs against are installed:
# Debian's docker-registry (distribution 2.8), skopeo, podman, buildah, containerd (ctr), docker.io
# (dockerd and its docker CLI, /usr/bin/docker), redis-server (the shared-state backend),
# prometheus and promtool (the alert rules' tests), and systemd's systemd-analyze (which verifies
# and scores etc/registry-token.service). Installs missing ones with apt-get when running as root;
# otherwise says exactly what to install and fails (tests never skip).
set -euo pipefail

# /usr/bin/docker by its path: the machine may have another docker client earlier on PATH, and the
# tests use the one that goes with Debian's dockerd.
declare -A package_of=(
  [docker-registry]=docker-registry [skopeo]=skopeo [podman]=podman [buildah]=buildah
  [containerd]=containerd [ctr]=containerd [dockerd]=docker.io [/usr/bin/docker]=docker.io
  [redis-server]=redis-server [systemd-analyze]=systemd
  [prometheus]=prometheus [promtool]=prometheus
)
missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

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
# The same for redis-server and prometheus: the tests start their own, in the foreground on a free
# port; and for docker.io and containerd, whose daemons the tests start in the foreground under a
# temp dir.
if command -v systemctl >/dev/null 2>&1; then
  for unit in docker-registry redis-server prometheus docker.socket docker containerd; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
# Without systemd (a container), the packages' init scripts may still have started them.
if command -v service >/dev/null 2>&1; then
  for name in redis-server prometheus docker containerd; do
    service "$name" stop >/dev/null 2>&1 || true
  done
fi
