import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real redis-server/slapd/gateways; two cores, so keep it modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
