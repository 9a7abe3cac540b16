// The SQLite database holds candidates' names, phones, emails and exam passwords: only the gateway's own user
// may read it. Its folder is 0700 and its files 0600, whatever the process umask was.
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../log.js';

const PRIVATE_FOLDER = 0o700;
const PRIVATE_FILE = 0o600;
/** SQLite's files for one database: the file itself, its write-ahead log, its shared memory, its journal. */
const SUFFIXES = ['', '-wal', '-shm', '-journal'];

/**
 * Before the database is opened: creates its folder 0700 and sets a 0077 umask, so every file SQLite creates
 * is private (SQLite gives the -wal and -shm files the database file's mode). An existing folder is made
 * 0700 when it holds nothing but this database; a shared folder (the working directory, /tmp) is left as it
 * is, and said so.
 */
export function prepareSqliteFolder(file: string, log: Logger): void {
  process.umask(0o077);
  const path = resolve(file);
  const folder = dirname(path);
  if (!existsSync(folder)) {
    makeFolders(folder);
    return;
  }
  const ours = readdirSync(folder).every((name) => SUFFIXES.some((s) => name === basename(path) + s));
  const mode = statSync(folder).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  if (ours) chmodSync(folder, PRIVATE_FOLDER);
  else
    log.warn(
      { folder, mode: mode.toString(8) },
      'the database folder is shared with other files and readable by other users; give the database a folder of its own',
    );
}

/** After opening: files created by an earlier version (0644) are made 0600 too. */
export function privateSqliteFiles(file: string): void {
  const path = resolve(file);
  for (const suffix of SUFFIXES) {
    const name = path + suffix;
    if (existsSync(name) && (statSync(name).mode & 0o077) !== 0) chmodSync(name, PRIVATE_FILE);
  }
}

/**
 * `mkdir -p`, one level at a time. Node's own recursive mkdirSync never returns for a folder under /proc
 * (the kernel answers ENOENT for the child of an existing folder, and it retries forever): the gateway would
 * hang at start with no output instead of saying that DATABASE_URL points nowhere.
 */
function makeFolders(folder: string): void {
  const missing: string[] = [];
  for (let f = folder; !existsSync(f); f = dirname(f)) {
    missing.unshift(f);
    if (dirname(f) === f) break;
  }
  for (const f of missing) mkdirSync(f, { mode: PRIVATE_FOLDER });
}
