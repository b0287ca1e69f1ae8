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

# One failed start is the state the role is for. systemd's own retries (Restart=always, until its start limit)
# only repeat it, and took about 2 minutes of the scenario under TCG: a runtime drop-in (under /run, removed
# right after) stops them. The unit ends "failed" all the same; the role's handler resets it before its restart.
no_retry=/run/systemd/system/docker.service.d/nodeprep-test-no-retry.conf
mkdir -p "$(dirname "$no_retry")"
printf '[Service]\nRestart=no\n' > "$no_retry"
systemctl daemon-reload
if systemctl start docker.service; then rm -f "$no_retry"; echo "dockerd started although br_netfilter is blocked"; exit 1; fi
rm -f "$no_retry"
systemctl daemon-reload
# `systemctl start docker.service` also started docker.socket (Requires=). After systemd's own retries the socket
# fails with the service (service-start-limit-hit); here it would stay listening, and the role's first look at the
# engine API would start dockerd again through it. Stop it, as the start limit would have.
systemctl stop docker.socket
[ "$(systemctl is-active docker.service || true)" = failed ]
[ "$(systemctl is-active docker.socket || true)" != active ]
journalctl --no-pager -o cat -u docker.service | grep -F 'failed to start daemon' > "$state/dockerd-before-role.log"
echo "dockerd failed as expected: $(tail -n 1 "$state/dockerd-before-role.log")"
