import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies /api to a backend on LIKENESS_API (default :8000), so the
// app always calls relative URLs, as it does behind nginx or served by Flask.
const api = process.env.LIKENESS_API || 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  server: { proxy: { '/api': api } },
  build: { outDir: 'dist', sourcemap: false },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{js,jsx}'],
    setupFiles: ['src/test-setup.js'],
    pool: 'threads',
    maxWorkers: 2,
  },
});
