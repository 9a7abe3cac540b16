// The database a bench runs the gateway on. SQLite by default; PostgreSQL when asked:
//   BENCH_DATABASE_URL=postgres://user@host:port/db   an existing server (the role needs CREATEDB)
//   BENCH_DATABASE=postgres                           a throw-away cluster from scripts/postgres-for-tests.sh,
//                                                     in its own folder on a free port (a test suite's cluster
//                                                     on 55432 is left alone), stopped and removed at exit
// Every scenario gets a database of its own (`fresh`), dropped at exit, so runs never see each other's rows.
// On PostgreSQL part of the work moves out of the gateway into the server's processes: `serverCpuMs` counts
// them from /proc (the postmaster, its live children, and what its ended children used), so a bench can print
// the server's CPU per push beside the gateway's. NaN when the server is not a process on this machine.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const clusterScript = fileURLToPath(new URL('./postgres-for-tests.sh', import.meta.url));
const ticksPerSecond = 100; // USER_HZ on Linux

/**
 * @typedef {object} BenchDatabase
 * @property {'sqlite' | 'postgres'} dialect
 * @property {string} label          what to print beside each figure: `SQLite` or `PostgreSQL 15.18`
 * @property {string} description    one line for the bench's header: which database, where, how
 * @property {(scenario: string) => string} fresh   a DATABASE_URL nobody has used yet
 * @property {() => number} serverCpuMs             the server's CPU so far, in ms (NaN on SQLite)
 * @property {(databaseUrl: string, sql: string) => void} psql   runs SQL on PostgreSQL, stops on the first error
 */

/** @returns {Promise<BenchDatabase>} */
export async function benchDatabase(sqliteFolder) {
  const url = process.env.BENCH_DATABASE_URL;
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url))
      throw new Error('BENCH_DATABASE_URL must be a postgres:// URL (SQLite is the default: leave it unset)');
    return postgres(url, { origin: 'given by BENCH_DATABASE_URL', dropAtExit: true });
  }
  const wanted = process.env.BENCH_DATABASE ?? 'sqlite';
  if (wanted === 'postgres')
    // The cluster's folder goes at exit, and its databases with it.
    return postgres(await startCluster(), { origin: 'a throw-away cluster (BENCH_DATABASE=postgres)' });
  if (wanted !== 'sqlite') throw new Error(`BENCH_DATABASE must be sqlite or postgres, not ${wanted}`);
  return {
    dialect: 'sqlite',
    label: 'SQLite',
    description: 'SQLite, a new file per scenario',
    fresh: (scenario) =>
      `sqlite:${join(sqliteFolder, `${scenario}-${randomBytes(3).toString('hex')}.sqlite`)}`,
    serverCpuMs: () => Number.NaN,
    psql: () => {
      throw new Error('psql: the bench runs on SQLite');
    },
  };
}

function postgres(serverUrl, { origin, dropAtExit = false }) {
  const created = [];
  const psql = (databaseUrl, sql) =>
    execFileSync('psql', [databaseUrl, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  let version;
  try {
    version = psql(serverUrl, 'SHOW server_version').split(' ')[0];
  } catch (error) {
    throw new Error(
      `cannot reach PostgreSQL at ${redacted(serverUrl)} with psql: ${error.stderr || error.message}`,
    );
  }
  const postmaster = postmasterPid(
    psql(serverUrl, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"),
  );
  if (dropAtExit)
    process.on('exit', () => {
      for (const name of created) {
        try {
          psql(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } catch {
          // the server predates WITH (FORCE) (13), or is gone: nothing to tidy then
        }
      }
    });
  const where = new URL(serverUrl);
  return {
    dialect: 'postgres',
    label: `PostgreSQL ${version}`,
    description: `PostgreSQL ${version} at ${where.host}, ${origin}, a new database per scenario; server CPU: ${
      postmaster
        ? `postmaster ${postmaster} and its children, from /proc`
        : 'not counted (the server is not a process on this machine)'
    }`,
    fresh(scenario) {
      const name = `bench_${scenario.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`.toLowerCase();
      psql(serverUrl, `CREATE DATABASE ${name}`);
      created.push(name);
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    serverCpuMs: () => (postmaster ? processTreeCpuMs(postmaster) : Number.NaN),
    psql,
  };
}

/** The postmaster is the checkpointer's parent; undefined when that process is not on this machine. */
function postmasterPid(checkpointer) {
  try {
    if (!readFileSync(`/proc/${checkpointer}/cmdline`, 'utf8').includes('checkpointer')) return undefined;
    return Number(statFields(checkpointer)[1]);
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat after the command name: [0] state, [1] ppid, [11] utime … [14] cstime. */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * The postmaster's own CPU, that of its children that ended and were reaped (cutime, cstime: connections
 * closed meanwhile), and that of its live children (backends, checkpointer, WAL writer, autovacuum…).
 */
function processTreeCpuMs(postmaster) {
  const own = statFields(postmaster);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || entry === String(postmaster)) continue;
    try {
      const fields = statFields(entry);
      if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile: its time is in the postmaster's cutime now
    }
  }
  return (ticks * 1000) / ticksPerSecond;
}

async function startCluster() {
  const folder = join(tmpdir(), `feishu-exam-bench-pg-${process.pid}`);
  const env = { ...process.env, TEST_POSTGRES_PORT: String(await freePort()), TEST_POSTGRES_DIR: folder };
  let out;
  try {
    out = execFileSync('bash', [clusterScript], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new Error(`scripts/postgres-for-tests.sh failed: ${error.stderr || error.message}`);
  }
  const stop = () => {
    execFileSync('bash', [clusterScript, 'stop'], { env, stdio: 'ignore' });
    rmSync(folder, { recursive: true, force: true });
  };
  process.on('exit', stop);
  // Without these, Ctrl-C would end the bench without 'exit' handlers, and leave the cluster running.
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));
  return /TEST_POSTGRES_URL=(\S+)/.exec(out)[1];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function redacted(databaseUrl) {
  const url = new URL(databaseUrl);
  if (url.password) url.password = '***';
  return url.toString();
}
