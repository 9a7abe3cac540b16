// Prototype (issue 11, goal 3): the consumer of the prototype's inbox (ingest-koa.mjs, PROTO_STORE=consumed), in
// a worker thread of the same process, so that its CPU is counted with the push's. It turns the inbox into exams
// and their card jobs with the gateway's own code (openStore, examLifecycle.receiveMany) on a connection of its
// own, deletes the rows it consumed in the same transaction, and commits lazily (the inbox holds the pushes
// durably until then). The two connections never wait on each other's lock: a flag in shared memory says who
// writes; this thread waits for it, the main thread tries again on its next turn instead.
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { openStore } from '../../dist/store/index.js';
import { examLifecycle } from '../../dist/workflow/exam-lifecycle.js';

const { file, lock: lockBuffer, everyMs } = workerData;
const lock = new Int32Array(lockBuffer);
const FREE = 0;
const CONSUMER = 2;
// A worker may not set the umask (openStore does, for the files it creates): the main thread's stands.
process.umask = () => 0o077;
const store = await openStore(`sqlite:${file}`, pino({ level: 'silent' }));
await store.write((tx) =>
  tx.run(
    'CREATE TABLE inbox (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, tenant_key TEXT, app_id TEXT, payload TEXT NOT NULL, received_at INTEGER NOT NULL)',
  ),
);

const LIMIT = 256;
async function consumeOnce() {
  while (Atomics.compareExchange(lock, 0, FREE, CONSUMER) !== FREE)
    Atomics.wait(lock, 0, Atomics.load(lock, 0), 1);
  try {
    return await store.write(
      async (tx) => {
        const rows = await tx.all(
          'SELECT seq, event_id, tenant_key, app_id, payload FROM inbox ORDER BY seq LIMIT ?',
          [LIMIT],
        );
        if (rows.length === 0) return 0;
        const events = rows.map((r) => ({
          id: r.event_id,
          type: 'hire.eco_exam.created_v1',
          tenantKey: r.tenant_key ?? undefined,
          appId: r.app_id ?? undefined,
          payload: JSON.parse(r.payload),
        }));
        await examLifecycle.receiveMany(tx, events, Date.now());
        await tx.run('DELETE FROM inbox WHERE seq <= ?', [rows.at(-1).seq]);
        return rows.length;
      },
      { durability: 'lazy' },
    );
  } finally {
    Atomics.store(lock, 0, FREE);
    Atomics.notify(lock, 0);
  }
}

/** A drain is due or under way; `again`: a commit came during it, so another follows. */
let scheduled = false;
let again = false;
function drainSoon() {
  scheduled = true;
  setTimeout(async () => {
    again = false;
    while ((await consumeOnce()) === LIMIT);
    if (again) drainSoon();
    else scheduled = false;
  }, everyMs);
}
parentPort.on('message', async (message) => {
  if (message === 'count') {
    const [row] = await store.reads.all(
      'SELECT (SELECT count(*) FROM inbox) AS inbox, (SELECT count(*) FROM exams) AS exams, (SELECT count(*) FROM outbox_jobs) AS jobs',
    );
    parentPort.postMessage(row);
    return;
  }
  if (scheduled) again = true;
  else drainSoon();
});
parentPort.postMessage('ready');
