import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { envelopeV2, seal } from '@feishu-exam/event-core';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { secrets, startTestGateway, tempDatabaseUrl } from './support.js';

/** A push whose body is sent up to its last byte: the request is in flight until `finish` sends it. */
async function pushInFlight(url: string, body: Buffer, headers: Record<string, string>) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (d) => {
    answer += d;
  });
  const head = Object.entries({ ...headers, 'content-length': String(body.length) })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(`POST /webhook/event HTTP/1.1\r\nHost: ${hostname}\r\n${head}\r\n`);
  socket.write(body.subarray(0, body.length - 1));
  return {
    async finish(): Promise<string> {
      socket.write(body.subarray(body.length - 1));
      await once(socket, 'close');
      return answer;
    },
  };
}

describe('shutdown (SIGTERM: RunningGateway.close)', () => {
  it('finishes a push in flight, acknowledged only once stored, and closes its keep-alive connection', async () => {
    const databaseUrl = tempDatabaseUrl();
    const gw = await startTestGateway({ DATABASE_URL: databaseUrl });
    const sealed = seal(
      envelopeV2('hire.eco_exam.created_v1', { exam_id: 'shutdown-1' }, { token: secrets.verificationToken }),
      { encryptKey: secrets.encryptKey },
    );
    const push = await pushInFlight(gw.url, Buffer.from(sealed.rawBody), sealed.headers);
    const closed = gw.close();
    const answer = await push.finish();
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    // Kept alive, the connection would take more requests after the shutdown began, and hold close() until
    // the keep-alive timeout (or, under a steady stream, until the 10 s bound and exit 1).
    expect(answer).toMatch(/^connection: close\r$/im);
    const db = new BetterSqlite3(databaseUrl.slice('sqlite:'.length), { readonly: true });
    try {
      expect(db.prepare("SELECT exam_id FROM exams WHERE exam_id = 'shutdown-1'").all()).toHaveLength(1);
    } finally {
      db.close();
    }
  });

  it('stops the outbox worker from claiming jobs as soon as it starts, not after the last request', async () => {
    const gw = await startTestGateway();
    const stop = vi.spyOn(gw.worker, 'stop');
    const sealed = seal(
      envelopeV2('hire.eco_exam.created_v1', { exam_id: 'shutdown-2' }, { token: secrets.verificationToken }),
      { encryptKey: secrets.encryptKey },
    );
    const push = await pushInFlight(gw.url, Buffer.from(sealed.rawBody), sealed.headers);
    const closed = gw.close();
    // The request is still in flight: the HTTP server cannot have closed yet.
    await vi.waitFor(() => expect(stop).toHaveBeenCalled());
    await push.finish();
    await closed;
  });
});

// A client that sent its headers and stalls its body held close() until Node's requestTimeout (30 s, checked
// only every 30 s): past main.ts's 10 s shutdown bound, which then exited 1 without closing the database.
it('close() completes within the 10 s shutdown bound although a client stalls mid-body', async () => {
  const gw = await startTestGateway();
  const { hostname, port } = new URL(gw.url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  // Unauthenticated: headers and 10 of the announced 1000 bytes, then nothing.
  socket.write(
    'POST /webhook/event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"schema":',
  );
  await new Promise((r) => setTimeout(r, 200));
  const closed = gw.close().then(() => 'closed' as const);
  const outcome = await Promise.race([
    closed,
    new Promise<'still open'>((r) => setTimeout(() => r('still open'), 10_500)),
  ]);
  socket.destroy();
  await closed;
  expect(outcome).toBe('closed');
}, 30_000);
