# The toolkit and its demo workload as an image, for users with a registry (docs/docker.md).
#   docker build -t chaos-demo:local .            # the docker platform's demo image
#   docker build -t chaos-toolkit:0.1.0 .         # the same image as the toolkit image of platform kubernetes
# The docker experiments (experiments/docker/) run `chaos workload` from this image: `chaos` in a container's
# run: means `node /app/bin/run.js`. On platform kubernetes (docs/kubernetes.md) the same image is
# `kubernetes.image`: its ephemeral containers and helper pods run `chaos k8s helper ...` and the toolkit execs
# `chaos k8s helper-stop ...` into them, and the manifests' Job runs `chaos`; so `chaos` is an executable on PATH
# (/usr/local/bin/chaos -> /app/bin/run.js, whose `#!/usr/bin/env node` needs /usr/bin/env), and the helper uses
# util-linux's nsenter (network flood from a helper pod) and fallocate (disk fill, mode fallocate). node:20-slim
# has all three (coreutils and util-linux are Essential in Debian); the last RUN fails the build if one is missing.
# Machines that reach no registry (this project's CI) build the same image offline with
# scripts/docker-images.sh instead; this file is not used there.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/oclif.manifest.json ./
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/schema ./schema
COPY --from=build /app/node_modules ./node_modules
RUN ln -s /app/bin/run.js /usr/local/bin/chaos \
 && chaos --version \
 && nsenter --version && fallocate --version
EXPOSE 8080
CMD ["node", "/app/bin/run.js", "workload", "--port", "8080", "--host", "0.0.0.0"]
