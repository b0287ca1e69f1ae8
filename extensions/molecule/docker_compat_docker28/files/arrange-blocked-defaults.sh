#!/usr/bin/env bash
# br_netfilter blocked the way hardening guides do it, dockerd 28.5.2 restarted with default settings: nothing needs
# br_netfilter, so it starts (it loads only the bridge module).
set -euo pipefail
state=/var/lib/nodeprep-test
mkdir -p "$state"

# docker.service may still be starting after boot or restore
for _ in $(seq 120); do
  case "$(systemctl is-active docker.service || true)" in activating|deactivating|reloading) sleep 1 ;; *) break ;; esac
done
dockerd --version | grep -q 'Docker version 28\.5\.2' || { echo "expected dockerd 28.5.2: $(dockerd --version)"; exit 1; }

printf 'install br_netfilter /bin/false\n' > /etc/modprobe.d/nodeprep-test-block-br_netfilter.conf
rm -f /etc/docker/daemon.json
systemctl stop docker.service docker.socket
if [ -e /sys/module/br_netfilter ]; then rmmod br_netfilter; fi
systemctl start docker.service
test ! -e /sys/module/br_netfilter
systemctl show -p MainPID --value docker.service > "$state/dockerd-pid-defaults"
echo "dockerd 28.5.2 runs as pid $(cat "$state/dockerd-pid-defaults") with default settings and without br_netfilter"
