// Builds the review UI into dist/ui (served by src/review/routes/page.ts). Run: npm run build:ui
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  logLevel: 'warn',
  // No JSX in the sources (the server's tsconfig has no JSX setting); kept for preact-style components if added.
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: path.resolve(here, '../../../dist/ui'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    // One bundle: the UI is small and served from the device itself.
    chunkSizeWarningLimit: 400,
  },
});
