#!/usr/bin/env node
// The `feishu-exam` command (the package's bin). The gateway server is dist/main.js, not this.
import { processIo } from './output.js';
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv.slice(2), processIo());
