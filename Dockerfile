# kata-exec in a container, next to containerd on the host (a KVM host for Kata).
#
# Build (NODE_IMAGE: a pinned Node.js LTS image on Debian bookworm; pin its digest too in
# production, e.g. node:20.20.2-bookworm-slim@sha256:...):
#   docker build -t kata-exec .
#   podman build --format docker --build-arg NODE_IMAGE=localhost/kata-exec-node:20 -t kata-exec .
# (without a registry, scripts/build-node-base.sh makes localhost/kata-exec-node:20 from
# Debian packages and this host's node; scripts/test-container.sh builds and runs it all).
# RUN --mount (the npm cache, a CA secret) needs BuildKit (docker's default builder since
# Docker 23) or buildah/podman.
#
# Run: the sandboxes are started by containerd ON THE HOST, which opens every path the
# service hands it (the code directory, the OCI spec, the image rootfs, the runsc wrapper,
# ctr's stdio FIFOs) by host path. So these must be mounted at IDENTICAL paths:
#   -v /run/kata-exec:/run/kata-exec:rshared   KATA_EXEC_RUN_DIR. rshared (Kubernetes:
#        mountPropagation: Bidirectional): the image rootfs and dev-profile overlays that the
#        service mounts under it must propagate back to the host, where containerd uses them.
#        On the host this directory must sit on a shared mount (systemd hosts: it does).
#   -v /run/containerd:/run/containerd          the socket, and /run/containerd/fifo where ctr
#        makes the stdio FIFOs that the host's shim opens. Mount the directory, not the
#        socket file: a file bind mount goes stale when containerd restarts.
#   -v /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs:(same path)
#        `ctr images mount` mounts the image's snapshot itself, by host path (read-write:
#        ctr also makes a temporary overlay there).
#   gVisor only: the runsc binary at the same path as on the host (KATA_EXEC_RUNSC_PATH).
#   Kata only: /opt/kata (ro) and the directory with the containerd-shim-kata-*-v2 links on
#        PATH (the service looks for the shim on its PATH before naming the runtime).
# The full command, for docker and podman: deploy/README.md ("Container").
#
# Why root: the service mounts (`ctr images mount` for the shared read-only rootfs,
# mount(8)/umount(8) for dev-profile overlays), which needs uid 0 and CAP_SYS_ADMIN:
# util-linux mount refuses non-root callers whatever their capabilities, and the mounts
# must propagate to the host (rshared, which Kubernetes allows only in privileged
# containers). containerd's socket is root:root 0660 by default. Instead of --privileged,
# the exact set is --cap-drop=all --cap-add=SYS_ADMIN,DAC_OVERRIDE,FOWNER,CHOWN,KILL
# --security-opt apparmor=unconfined (the default seccomp profiles of docker and podman
# allow mount(2) once SYS_ADMIN is added; AppArmor's default container profile does not).
# The sandboxes themselves never run in this container: containerd starts them on the
# host, each in its own cgroup with its own limits.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# Behind a TLS-inspecting proxy, give npm the proxy's CA as a build secret (it stays out of
# the layers): --secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt

# ---- production dependencies only (no dev dependencies, no install scripts)
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked --mount=type=secret,id=npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --omit=dev --ignore-scripts

# ---- build: all dependencies, TypeScript -> dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked --mount=type=secret,id=npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: node, ctr, mount/umount, tini; nothing else
FROM ${NODE_IMAGE} AS runtime
# containerd (Debian's package) brings /usr/bin/ctr, the client the service drives. Its
# daemons are removed: containerd runs on the host. Kept: containerd-shim-runc-v2 and runc,
# which this image never runs (the host's containerd does) but which the service looks up
# on PATH to accept KATA_EXEC_RUNTIME=runc or gvisor. mount(8)/umount(8): util-linux.
# tini is PID 1: it forwards SIGTERM (graceful drain) and reaps orphaned children.
# ca-certificates: for `ctr images pull` of the sandbox image from a registry (the
# Kubernetes init container); the service itself makes no outbound connection.
# npm, npx, corepack and yarn are removed: the service needs node alone.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends containerd mount tini ca-certificates; \
    rm -f /usr/bin/containerd /usr/bin/containerd-shim /usr/bin/containerd-shim-runc-v1 /usr/bin/containerd-stress; \
    rm -rf /etc/containerd /lib/systemd/system/containerd.service; \
    rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* /usr/local/bin/docker-entrypoint.sh; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /usr/share/doc/* /usr/share/man/*; \
    ctr --version; mount --version >/dev/null; node --version

WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./

LABEL org.opencontainers.image.title="kata-exec" \
      org.opencontainers.image.description="Runs untrusted code in a fresh sandbox per request through the host's containerd" \
      org.opencontainers.image.licenses="Apache-2.0"
# Loopback would be unreachable from outside the container's network namespace.
ENV NODE_ENV=production KATA_EXEC_HOST=0.0.0.0 KATA_EXEC_PORT=8080
EXPOSE 8080
# Root on purpose (see the top of this file): mounts and the containerd socket need it.
USER 0:0
# Liveness: the process answers /healthz (readiness, /readyz, is for the orchestrator).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const h=process.env.KATA_EXEC_HOST||'';const a=(h===''||h==='0.0.0.0'||h==='::')?'127.0.0.1':h.includes(':')?'['+h+']':h;fetch('http://'+a+':'+(process.env.KATA_EXEC_PORT||8080)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/server.js"]
