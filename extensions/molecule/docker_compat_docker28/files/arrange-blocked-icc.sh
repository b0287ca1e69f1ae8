#!/usr/bin/env bash
# Arrange what docker_br_netfilter_compat is for, in one round trip: br_netfilter blocked the way hardening guides
# do it, "icc": false, dockerd restarted without the role (it must fail), its error kept for verify.
set -euo pipefail
state=/var/lib/nodeprep-test
mkdir -p "$state"

# docker.service may still be starting after boot or restore
for _ in $(seq 120); do
  case "$(systemctl is-active docker.service || true)" in activating|deactivating|reloading) sleep 1 ;; *) break ;; esac
done
dockerd --version | grep -q 'Docker version 28\.5\.2' || { echo "expected dockerd 28.5.2: $(dockerd --version)"; exit 1; }

printf 'install br_netfilter /bin/false\n' > /etc/modprobe.d/nodeprep-test-block-br_netfilter.conf
printf '{"icc": false}\n' > /etc/docker/daemon.json
systemctl stop docker.service docker.socket
if [ -e /sys/module/br_netfilter ]; then rmmod br_netfilter; fi
test ! -e /sys/module/br_netfilter

if systemctl start docker.service; then echo "dockerd started although br_netfilter is blocked"; exit 1; fi
# systemd retries (Restart=always) until its start limit; wait for the final "failed"
for _ in $(seq 180); do
  [ "$(systemctl is-active docker.service || true)" = failed ] && break
  sleep 1
done
[ "$(systemctl is-active docker.service || true)" = failed ]
journalctl --no-pager -o cat -u docker.service | grep -F 'failed to start daemon' > "$state/dockerd-before-role.log"
echo "dockerd failed as expected: $(tail -n 1 "$state/dockerd-before-role.log")"
