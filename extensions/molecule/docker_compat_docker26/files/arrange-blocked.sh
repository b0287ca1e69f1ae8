#!/usr/bin/env bash
# Arrange the state in one round trip: br_netfilter blocked the way hardening guides do it, and dockerd 26.1.5
# restarted without it (Docker 26 loads br_netfilter when it starts; with icc at its default it starts anyway).
set -euo pipefail
state=/var/lib/nodeprep-test
mkdir -p "$state"

for _ in $(seq 120); do
  case "$(systemctl is-active docker.service || true)" in activating|deactivating|reloading) sleep 1 ;; *) break ;; esac
done
dockerd --version | grep -q 'Docker version 26\.1\.5' || { echo "expected dockerd 26.1.5: $(dockerd --version)"; exit 1; }

printf 'install br_netfilter /bin/false\n' > /etc/modprobe.d/nodeprep-test-block-br_netfilter.conf
systemctl stop docker.service docker.socket
if [ -e /sys/module/br_netfilter ]; then rmmod br_netfilter; fi
systemctl start docker.service
test ! -e /sys/module/br_netfilter
systemctl show -p MainPID --value docker.service > "$state/dockerd-pid-before-role"
echo "dockerd 26.1.5 runs as pid $(cat "$state/dockerd-pid-before-role") without br_netfilter"
