import {defineConfig} from 'vitest/config'

// Four projects: fast unit tests and integration tests on real cgroups, processes, Docker, Prometheus and sshd
// (`npm test`, kept under about 15 minutes on 2 cores); the longer end-to-end runs through a host over SSH, the
// Kubernetes mechanisms and a real kube-apiserver (`npm run test:e2e`, which CI runs after npm test); and the experiments at full length,
// whose verdicts are measurements rather than pass/fail mechanics (`npm run test:slow`).
export default defineConfig({
  test: {
    projects: [
      {test: {name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000}},
      {test: {name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000, fileParallelism: false}},
      {test: {name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000, fileParallelism: false}},
      {test: {name: 'slow', include: ['test/slow/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 120_000, fileParallelism: false}},
    ],
  },
})
