#!/bin/sh
# userland-proxy=false (so the DNAT rule is the only path to a published port), an image imported from a local rootfs
# tarball (there is no registry), a container publishing 8080 -> 80 that comes back at boot, and the fault enabled.
set -eu
mkdir -p /etc/docker /var/lib/nodeprep-test
printf '{"userland-proxy": false}\n' > /etc/docker/daemon.json
systemctl restart docker.service

# The image: an empty merged-/usr root and a page; the VM's /usr is bind-mounted read-only and python3 serves /www.
root=$(mktemp -d)
mkdir -p "$root/www" "$root/tmp" "$root/etc"
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$root/$d"; done
echo nodeprep-guard-ok > "$root/www/index.html"
tar -C "$root" -c . | docker import - nodeprep/web:1 >/dev/null
rm -rf "$root"
docker rm -f web >/dev/null 2>&1 || true
docker run -d --name web --restart always --stop-timeout 1 -p 8080:80 -v /usr:/usr:ro nodeprep/web:1 \
    /usr/bin/python3 -S -m http.server 80 --directory /www >/dev/null
systemctl daemon-reload
systemctl enable nodeprep-test-break-docker-rules.service
