// The long connection's own logic (reconnect backoff, half-open watchdog, readiness, drain) against a
// scripted client on fake timers; the real SDK against the emulator is in the emulator's e2e tests.
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { EventDispatcher, encryptPayload, envelopeV2 } from '@feishu-exam/event-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  LongConnection,
  type LongConnectionOptions,
  longConnectionHandler,
  type WSClientParams,
} from '../src/feishu/long-connection.js';
import type { EventContext, WebhookReply } from '../src/http/webhook.js';
import { createLogger } from '../src/log.js';

class FakeSocket extends EventEmitter {
  terminated = false;
  terminate() {
    this.terminated = true;
    this.emit('close');
  }
}

class FakeClient {
  readonly socket = new FakeSocket();
  pingInterval = 100;
  /** The server's ReconnectNonce (ms), as the SDK keeps it from the endpoint's ClientConfig and each pong. */
  reconnectNonce = 0;
  readonly wsConfig = {
    getWSInstance: () => this.socket,
    getWS: (key: string) => (key === 'reconnectNonce' ? this.reconnectNonce : this.pingInterval),
    updateWs: (v: { pingInterval: number }) => {
      this.pingInterval = v.pingInterval;
    },
  };
  dispatcher: { invoke(data: unknown): Promise<unknown> } | undefined;
  closedWith: { force?: boolean } | undefined;
  constructor(readonly params: WSClientParams) {}
  async start(p: { eventDispatcher: unknown }) {
    this.dispatcher = p.eventDispatcher as FakeClient['dispatcher'];
  }
  close(p: { force?: boolean } = {}) {
    this.closedWith = p;
  }
  handleEventData() {}
  connect() {
    this.params.onReady?.();
  }
  fail() {
    this.params.onError?.(new Error('endpoint said no'));
  }
}

let clients: FakeClient[];
let lines: Array<Record<string, unknown>>;

function connection(overrides: Partial<LongConnectionOptions> = {}) {
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return new LongConnection({
    appId: 'cli_a1b2c3d4e5f60718',
    appSecret: 's',
    domain: 'http://feishu.invalid',
    livenessMs: 1000,
    readyGraceMs: 5000,
    reconnectMaxMs: 4000,
    handle: async () => undefined,
    log: createLogger({ level: 'info', destination }),
    random: () => 0,
    createClient: (params) => {
      const client = new FakeClient(params);
      clients.push(client);
      return client as never;
    },
    ...overrides,
  });
}
const last = () => clients.at(-1) as FakeClient;
const messages = () => lines.map((l) => String(l.msg));

beforeEach(() => {
  // setImmediate stays real: close() waits one turn of the loop for the SDK to write its ACKs.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  clients = [];
  lines = [];
});
afterEach(() => vi.useRealTimers());

describe('LongConnection', () => {
  it('reconnects with exponential backoff (equal jitter, capped), logging the outage once', async () => {
    const c = connection({ random: () => 0 });
    c.start();
    expect(clients).toHaveLength(1);
    for (const [i, delay] of [500, 1000, 2000, 2000, 2000].entries()) {
      last().fail();
      expect(last().closedWith).toEqual({ force: true });
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(clients, `attempt ${i}`).toHaveLength(i + 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(clients, `attempt ${i}`).toHaveLength(i + 2);
    }
    last().connect();
    expect(c.status().state).toBe('connected');
    expect(messages().filter((m) => m.includes('reconnecting'))).toHaveLength(1);
    expect(messages().filter((m) => m === 'long connection connected')).toHaveLength(1);
    // Connected again, and a frame came: the backoff starts over.
    last().socket.emit('message');
    last().socket.emit('close');
    await vi.advanceTimersByTimeAsync(500);
    expect(clients).toHaveLength(7);
    await c.close();
  });

  it('a connection closed before any frame came does not start the backoff over (a server that drops at once)', async () => {
    const c = connection({ random: () => 0 });
    c.start();
    for (const [i, delay] of [500, 1000, 2000].entries()) {
      last().connect();
      last().socket.emit('close');
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(clients, `attempt ${i}`).toHaveLength(i + 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(clients, `attempt ${i}`).toHaveLength(i + 2);
    }
    await c.close();
  });

  // The SDK waits random() × ReconnectNonce before it dials again (lib/index.js reConnect), so that clients
  // dropped together (a Feishu server restarting) do not all come back at once.
  it("after a connection that was up, the first attempt waits the server's ReconnectNonce jitter at least", async () => {
    const c = connection({ random: () => 0.5 });
    c.start();
    last().connect();
    last().socket.emit('message');
    last().reconnectNonce = 3000;
    last().socket.emit('close');
    await vi.advanceTimersByTimeAsync(1499);
    expect(clients).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(clients).toHaveLength(2);
    // A failed attempt after it backs off as before (the nonce is for the first attempt only).
    last().fail();
    await vi.advanceTimersByTimeAsync(1500);
    expect(clients).toHaveLength(3);
    await c.close();
  });

  it('/readyz: waiting out the nonce is not an outage past the grace (5 s here)', async () => {
    const c = connection({ random: () => 0.5 });
    c.start();
    last().connect();
    last().socket.emit('message');
    last().reconnectNonce = 20_000;
    last().socket.emit('close');
    await vi.advanceTimersByTimeAsync(9_999);
    expect(clients).toHaveLength(1);
    expect(c.status()).toMatchObject({ state: 'reconnecting', ready: true });
    await vi.advanceTimersByTimeAsync(1);
    expect(clients).toHaveLength(2);
    // The grace counts from the end of the wait: ready until 10 s + 5 s, then not.
    last().fail();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(c.status().ready).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.status().ready).toBe(false);
    await c.close();
  });

  it('jitter: the delay lies between half the cap and the cap', async () => {
    const c = connection({ random: () => 0.999 });
    c.start();
    last().fail();
    await vi.advanceTimersByTimeAsync(998);
    expect(clients).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2);
    expect(clients).toHaveLength(2);
    await c.close();
  });

  it('replaces a half-open connection: no frame within the liveness bound', async () => {
    const c = connection();
    c.start();
    last().connect();
    const first = last();
    // Pongs keep arriving: healthy.
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(300);
      first.socket.emit('message');
    }
    expect(first.socket.terminated).toBe(false);
    // Silence.
    await vi.advanceTimersByTimeAsync(1500);
    expect(first.socket.terminated).toBe(true);
    expect(messages().some((m) => m.includes('half-open'))).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    expect(clients).toHaveLength(2);
    await c.close();
  });

  it('repairs a ping interval a pong left as NaN, 0 or below (the SDK would ping every millisecond)', async () => {
    const c = connection();
    c.start();
    last().connect();
    for (const broken of [Number.NaN, 0, -5_000]) {
      last().pingInterval = broken;
      last().socket.emit('message');
      expect(last().pingInterval, String(broken)).toBe(120_000);
    }
    await c.close();
  });

  it("warns once when a pong raises Feishu's ping interval to the liveness bound or past it", async () => {
    const c = connection();
    c.start();
    last().connect();
    const warnings = () => messages().filter((m) => m.includes('not longer than'));
    expect(warnings()).toEqual([]);
    last().pingInterval = 1000;
    last().socket.emit('message');
    last().socket.emit('message');
    expect(warnings()).toHaveLength(1);
    expect(lines.find((l) => String(l.msg).includes('not longer than'))).toMatchObject({
      pingIntervalMs: 1000,
      livenessMs: 1000,
    });
    last().pingInterval = 5000;
    last().socket.emit('message');
    expect(warnings()).toHaveLength(2);
    await c.close();
  });

  it('repairs a ping interval the endpoint left as NaN as soon as connected, before any frame arrives', async () => {
    const c = connection();
    c.start();
    last().pingInterval = Number.NaN;
    last().connect();
    expect(last().pingInterval).toBe(120_000);
    await c.close();
  });

  it('/readyz: not ready before the first connection, however short the wait (a replica that never connects must not pass a rollout)', async () => {
    const c = connection({ readyGraceMs: 2000 });
    c.start();
    expect(c.status()).toMatchObject({ state: 'connecting', ready: false });
    last().fail();
    expect(c.status().ready).toBe(false);
    await vi.advanceTimersByTimeAsync(1500);
    last().connect();
    expect(c.status()).toEqual({ state: 'connected', ready: true, downForMs: 0 });
    await c.close();
  });

  it('/readyz: ready while connected and during the grace period, not after', async () => {
    const c = connection({ readyGraceMs: 2000 });
    c.start();
    last().connect();
    expect(c.status()).toEqual({ state: 'connected', ready: true, downForMs: 0 });
    last().socket.emit('close');
    await vi.advanceTimersByTimeAsync(1900);
    for (const client of clients.slice(1)) if (!client.closedWith) client.fail();
    expect(c.status()).toMatchObject({ state: 'reconnecting', ready: true });
    await vi.advanceTimersByTimeAsync(200);
    expect(c.status()).toMatchObject({ state: 'reconnecting', ready: false });
    await vi.advanceTimersByTimeAsync(1000);
    last().connect();
    expect(c.status().ready).toBe(true);
    await c.close();
    expect(c.status()).toMatchObject({ state: 'stopped', ready: false });
  });

  it('close: refuses new frames, waits for the running ones, then closes gently', async () => {
    let finish: () => void = () => {};
    const c = connection({
      handle: () =>
        new Promise((resolve) => {
          finish = () => resolve({ toast: 'ok' });
        }),
    });
    c.start();
    last().connect();
    const client = last();
    const running = client.dispatcher?.invoke({ any: 'frame' });
    let closed = false;
    const closing = c.close().then(() => {
      closed = true;
    });
    await expect(client.dispatcher?.invoke({ another: 'frame' })).rejects.toThrow(/shutting down/);
    await vi.advanceTimersByTimeAsync(100);
    expect(closed).toBe(false);
    expect(client.closedWith).toBeUndefined();
    finish();
    await expect(running).resolves.toEqual({ toast: 'ok' });
    await closing;
    expect(client.closedWith).toEqual({});
    expect(clients).toHaveLength(1);
  });
});

describe('LongConnection while closing', () => {
  it('a card callback that arrives while closing is still answered (Feishu never re-pushes a click); close waits for it', async () => {
    const finishers: Array<() => void> = [];
    const c = connection({
      handle: () =>
        new Promise((resolve) => {
          finishers.push(() => resolve({ toast: { type: 'success', content: 'approved' } }));
        }),
    });
    c.start();
    last().connect();
    const client = last();
    const running = client.dispatcher?.invoke({
      schema: '2.0',
      header: { event_type: 'hire.eco_exam.created_v1' },
    });
    let closed = false;
    const closing = c.close().then(() => {
      closed = true;
    });
    await expect(
      client.dispatcher?.invoke({ schema: '2.0', header: { event_type: 'hire.eco_exam.created_v1' } }),
    ).rejects.toThrow(/shutting down/);
    const click = client.dispatcher?.invoke({ schema: '2.0', header: { event_type: 'card.action.trigger' } });
    await vi.advanceTimersByTimeAsync(10);
    expect(finishers).toHaveLength(2);
    finishers[0]?.();
    await running;
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    expect(client.closedWith).toBeUndefined();
    finishers[1]?.();
    await expect(click).resolves.toEqual({ toast: { type: 'success', content: 'approved' } });
    await closing;
    expect(client.closedWith).toEqual({});
  });
});

describe('longConnectionHandler', () => {
  const log = createLogger({ level: 'silent' });
  const exam = (event: object, eventId = 'ev-1') =>
    envelopeV2('hire.eco_exam.created_v1', event, { eventId, appId: 'cli_x', tenantKey: 't' });
  const rejected: string[] = [];
  const handler = (dispatcher: EventDispatcher<EventContext, WebhookReply>) =>
    longConnectionHandler(
      {
        dispatcher,
        log,
        secrets: {},
        recordRejectedEvent: async (e) => {
          rejected.push(e.id);
        },
      },
      1024 * 1024,
    );

  it('an event: nothing in the ACK; a failing handler throws (the SDK answers code 500)', async () => {
    let fail = true;
    const handle = handler(
      new EventDispatcher<EventContext, WebhookReply>().on('hire.eco_exam.created_v1', () => {
        if (fail) throw new Error('database down');
        return undefined;
      }),
    );
    await expect(handle(exam({ exam_id: 'e1' }))).rejects.toThrow('handler_failed');
    fail = false;
    await expect(handle(exam({ exam_id: 'e1' }))).resolves.toBeUndefined();
  });

  it('a card callback: its answer (toast, card) is the ACK data; a failure still answers with a toast', async () => {
    const click = envelopeV2(
      'card.action.trigger',
      { operator: { open_id: 'ou_1' }, action: { value: { a: 1 }, tag: 'button' }, context: {} },
      { appId: 'cli_x', tenantKey: 't' },
    );
    const ok = handler(
      new EventDispatcher<EventContext, WebhookReply>().on('card.action.trigger', () => ({
        toast: { type: 'success', content: 'done' },
      })),
    );
    await expect(ok(click)).resolves.toEqual({ toast: { type: 'success', content: 'done' } });
    const failing = handler(
      new EventDispatcher<EventContext, WebhookReply>().on('card.action.trigger', () => {
        throw new Error('x');
      }),
    );
    await expect(failing(click)).resolves.toMatchObject({ toast: { type: 'error' } });
  });

  it("an encrypted frame is decrypted with FEISHU_ENCRYPT_KEY, as the SDK's EventDispatcher does; no signature is asked", async () => {
    const seen: string[] = [];
    const dispatcher = new EventDispatcher<EventContext, WebhookReply>().on(
      'hire.eco_exam.created_v1',
      (event) => {
        seen.push(event.payload.exam_id);
        return undefined;
      },
    );
    const handle = longConnectionHandler(
      {
        dispatcher,
        log,
        secrets: { encryptKey: 'the-key', verificationToken: 'not-checked-here' },
        recordRejectedEvent: async () => {},
      },
      1024 * 1024,
    );
    const sealed = {
      encrypt: encryptPayload(JSON.stringify(exam({ exam_id: 'e-sealed' }, 'ev-sealed')), 'the-key'),
    };
    await expect(handle(sealed)).resolves.toBeUndefined();
    await expect(handle(exam({ exam_id: 'e-plain' }, 'ev-plain'))).resolves.toBeUndefined();
    expect(seen).toEqual(['e-sealed', 'e-plain']);
  });

  // The webhook answers these 413 or 400, and Feishu pushes them again; acknowledged here, they were lost.
  it('a push refused before it is read as an event (too large, sealed with another key) is not acknowledged', async () => {
    const handle = longConnectionHandler(
      {
        dispatcher: new EventDispatcher<EventContext, WebhookReply>(),
        log,
        secrets: { encryptKey: 'the-new-key' },
        recordRejectedEvent: async () => {},
      },
      4096,
    );
    await expect(
      handle(exam({ exam_id: 'e-big', candidate_info: { name: 'x'.repeat(5000) } }, 'ev-big')),
    ).rejects.toThrow('body_too_large');
    const sealed = {
      encrypt: encryptPayload(JSON.stringify(exam({ exam_id: 'e-old-key' }, 'ev-old-key')), 'the-old-key'),
    };
    await expect(handle(sealed)).rejects.toThrow('decrypt_failed');
  });

  it('a broken payload of a known event is recorded as rejected and acknowledged (a re-push cannot fix it)', async () => {
    const handle = handler(new EventDispatcher<EventContext, WebhookReply>());
    await expect(handle(exam({ paper_id: 'no exam id' }, 'ev-broken'))).resolves.toBeUndefined();
    expect(rejected).toContain('ev-broken');
  });
});
