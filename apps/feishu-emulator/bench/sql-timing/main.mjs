// The gateway with every SQLite statement timed (./preload.cjs says how to run it and where the figures go).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./preload.cjs');
await import(new URL('../../../gateway/dist/main.js', import.meta.url).href);
