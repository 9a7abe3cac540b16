import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The console page: console/ built into dist/console, served by the emulator at /console/.
export default defineConfig({
  root: fileURLToPath(new URL('./console', import.meta.url)),
  base: '/console/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
  },
});
