import { defineConfig } from 'vitest/config';

// End-to-end: real backend (gunicorn + buffalo_s) serving the production build,
// driven in headless Chromium through playwright-core. One file, one process.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['e2e/**/*.e2e.js'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
