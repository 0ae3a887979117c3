# The toolkit and its demo workload as an image, for users with a registry (docs/docker.md).
#   docker build -t chaos-demo:local .
# The docker experiments (experiments/docker/) run `chaos workload` from this image: `chaos` in a container's
# run: means `node /app/bin/run.js`. Machines that reach no registry (this project's CI) build the same image
# offline with scripts/docker-images.sh instead; this file is not used there.
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
EXPOSE 8080
CMD ["node", "/app/bin/run.js", "workload", "--port", "8080", "--host", "0.0.0.0"]
