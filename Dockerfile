# kata-exec in a container, next to containerd on a KVM host.
#   docker build --build-arg NODE_IMAGE=node:20-bookworm-slim -t kata-exec .
# Run it with the containerd socket and the run directory mounted at the SAME paths as on
# the host: containerd (on the host) bind-mounts the per-execution code directories by
# host path, so the service must write them where the host sees them.
#   docker run --privileged -v /run/containerd:/run/containerd -v /run/kata-exec:/run/kata-exec \
#     -e KATA_EXEC_CONTAINERD_ADDRESS=/run/containerd/containerd.sock -e KATA_EXEC_HOST=0.0.0.0 -p 8080:8080 kata-exec
# (--privileged: the service mounts the image rootfs; ctr talks to the host's containerd.)
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends containerd mount && rm -rf /var/lib/apt/lists/* \
    && rm -f /usr/bin/containerd /usr/bin/containerd-stress
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
ENV NODE_ENV=production KATA_EXEC_HOST=0.0.0.0
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.KATA_EXEC_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/server.js"]
