import {defineConfig} from 'vitest/config'

// Three projects: fast unit tests, integration tests on real cgroups and processes (default `npm test`),
// and slow ones (the eight experiments end to end) run by `npm run test:slow`.
export default defineConfig({
  test: {
    projects: [
      {test: {name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000}},
      {test: {name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 60_000, fileParallelism: false}},
      {test: {name: 'slow', include: ['test/slow/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 120_000, fileParallelism: false}},
    ],
  },
})
