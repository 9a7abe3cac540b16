import { defineConfig } from 'vitest/config';

// hookTimeout: the end-to-end suites start the gateway and the emulator as processes in beforeAll; on a
// loaded machine (CI sharing its cores) that took over vitest's 10 s default once.
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 20_000, hookTimeout: 60_000 },
});
