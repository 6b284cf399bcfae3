import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts'],
    // Generous: CI runs every package's suite on 2 shared cores; tests never assert times.
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
