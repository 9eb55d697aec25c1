import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: contention tests and the servers they start should not fight other files for CPU.
    fileParallelism: false,
    reporters: ['default'],
  },
});
