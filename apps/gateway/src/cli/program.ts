import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { DEFAULT_DATABASE_URL, databasePasswords, redactDatabaseUrl } from '../config.js';
import { textScrubber } from '../log.js';
import { type OpenStoreOptions, SQLITE_DRIVERS } from '../store/index.js';
import { backupDatabase, type MaintenanceResult, migrateDatabase } from '../store/maintenance.js';
import { checkProvidersFile } from './check.js';
import { doctor } from './doctor.js';
import { liveTest } from './live-test.js';
import type { CliIo } from './output.js';
import { scaffold } from './scaffold.js';

/** The `feishu-exam` command line; each action resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code = 0;
  const program = new Command('feishu-exam')
    .description('The feishu-exam gateway’s tools (the gateway itself runs as `node dist/main.js`)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  const providers = program
    .command('providers')
    .description('exam platforms: check, test, and write provider packages');
  providers
    .command('check')
    .argument('<file>', 'a providers file (YAML or JSON)')
    .description(
      'build every provider of the file as the gateway’s start would: same errors, no database, no Feishu',
    )
    .action(async (file: string) => {
      code = await checkProvidersFile(file, io);
    });
  providers
    .command('test')
    .argument('<file>', 'a providers file (YAML or JSON)')
    .description(
      'run the conformance kit against the live platform a provider of the file points at (arranges a real exam)',
    )
    .requiredOption('--provider <id>', 'the provider of the file to test')
    .requiredOption('--paper <id>', 'a paper (test) of the platform to arrange the exam on')
    .requiredOption('--email <email>', 'the test candidate’s email')
    .option('--name <name>', 'the test candidate’s name')
    .option('--exam-id <id>', 'Feishu’s exam id to arrange under (default: a new one each run)')
    .option('--field <key=value...>', 'a custom field of the bound account, repeatable')
    .option('--timeout-ms <ms>', 'how long one call may take', (v) => Number.parseInt(v, 10))
    .action(async (file: string, options) => {
      code = await liveTest(file, options, io);
    });
  providers
    .command('scaffold')
    .argument('<name>', 'the package name: "testlab" (feishu-exam-provider-testlab) or a full npm name')
    .description(
      'write a new provider package: package.json, tsconfig, src with a defineProvider skeleton, a fake, a conformance test',
    )
    .option('--dir <folder>', 'where to write it (default: a new folder named after the package)')
    .option('--id <id>', 'the provider id (default: from the name)')
    .action((name: string, options: { dir?: string; id?: string }) => {
      code = scaffold(name, options, io);
    });
  program
    .command('doctor')
    .description(
      'check a deployment: the configuration, the database, a Feishu token, the staff chat, the providers (sends nothing)',
    )
    .action(async () => {
      code = await doctor(io);
    });
  const db = program.command('db').description('the database: backups and migrations');
  db.command('backup')
    .argument('<file>', 'a new file for the copy')
    .description(
      'an online backup of the SQLite database (DATABASE_URL) while the gateway runs; PostgreSQL: pg_dump',
    )
    .action(async (file: string) => {
      code = await report(io, () =>
        backupDatabase(databaseUrlOf(io), resolve(io.cwd, file), silent(), storeOptionsOf(io)),
      );
    });
  db.command('migrate')
    .description('apply the migrations of this release to DATABASE_URL, and stop (before a rolling upgrade)')
    .action(async () => {
      code = await report(io, () => migrateDatabase(databaseUrlOf(io), silent(), storeOptionsOf(io)));
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  return code;
}

const databaseUrlOf = (io: CliIo) => io.env.DATABASE_URL || DEFAULT_DATABASE_URL;
const silent = () => pino({ level: 'silent' });
/** The gateway's SQLITE_DRIVER, when valid: one process never puts both SQLite bindings on one file. */
const storeOptionsOf = (io: CliIo): OpenStoreOptions => {
  const driver = SQLITE_DRIVERS.find((d) => d === io.env.SQLITE_DRIVER);
  return driver ? { sqliteDriver: driver } : {};
};

/**
 * Runs a database command and prints its one line. A database that cannot be opened (down, refused, a folder
 * this user may not write) is a ✗ line naming DATABASE_URL without its password, not a crash with a stack.
 */
async function report(io: CliIo, run: () => Promise<MaintenanceResult>): Promise<number> {
  const url = databaseUrlOf(io);
  const scrub = textScrubber(databasePasswords(url));
  const result = await run().catch(
    (err: unknown): MaintenanceResult => ({
      ok: false,
      message: scrub(`DATABASE_URL ${redactDatabaseUrl(url)}: ${(err as Error).message}`),
    }),
  );
  if (result.ok) io.out(`✓ ${result.message}`);
  else io.err(`✗ ${result.message}`);
  return result.ok ? 0 : 1;
}
