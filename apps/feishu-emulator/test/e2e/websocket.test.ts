// FEISHU_TRANSPORT=websocket end to end: the real gateway process dials the emulator's long connection with
// the official SDK's WSClient; events and card clicks arrive as pbbp2 frames and are acknowledged in frames.
import { readFileSync } from 'node:fs';
import { envelopeV2 } from '@feishu-exam/event-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEmulator,
  LONG_CONNECTION,
  SELF_BUILT_TENANT,
  type WsDeliveryAttempt,
} from '../../src/index.js';
import {
  cardsFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  logsWritten,
  type Platform,
  startGateway,
  tempDatabaseUrl,
  until,
} from './harness.js';

/** A self-built app whose id the SDK accepts (cli_ + 16 hex digits). */
const wsApp = { appId: 'cli_e2e0000000000a01', appSecret: 'e2e-ws-app-secret-0123456789' };
const LIVENESS_MS = 2000;

/** A process's state letter from /proc (T: stopped by a signal). */
const processState = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];

let platform: Platform | undefined;
const gateways: GatewayProcess[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop('SIGKILL')));
  await platform?.running.close();
});

async function startWsPlatform(cardFrameType: 'event' | 'card' = 'event'): Promise<Platform> {
  const emulator = createEmulator({
    apps: [wsApp],
    // Feishu's re-push schedule (15 s, 5 min, 1 h, 6 h), compressed; long enough to cover a gateway restart.
    retrySchedule: [1000, 2000, 4000, 8000],
    longConnection: {
      ackTimeoutMs: 3000,
      cardFrameType,
      clientConfig: { PingInterval: 0.3, ReconnectInterval: 1, ReconnectNonce: 0, ReconnectCount: -1 },
    },
  });
  return { emulator, running: await emulator.listen() };
}

async function startWsGateway(
  p: Platform,
  databaseUrl = tempDatabaseUrl(),
  env: Record<string, string> = {},
) {
  const gateway = await startGateway(
    p,
    {
      FEISHU_TRANSPORT: 'websocket',
      FEISHU_APP_ID: wsApp.appId,
      FEISHU_APP_SECRET: wsApp.appSecret,
      // Nothing is posted to the gateway: neither key nor token is needed.
      FEISHU_ENCRYPT_KEY: '',
      FEISHU_VERIFICATION_TOKEN: '',
      FEISHU_WS_LIVENESS_MS: String(LIVENESS_MS),
      FEISHU_WS_READY_GRACE_MS: '1000',
      FEISHU_WS_RECONNECT_MAX_MS: '400',
      ...env,
    },
    databaseUrl,
  );
  gateways.push(gateway);
  return gateway;
}

const connected = (p: Platform) =>
  until('a live connection', () => p.emulator.longConnection.liveCount(wsApp.appId) === 1, 15_000);
const wsAttempts = (attempts: unknown) => attempts as WsDeliveryAttempt[];
const pushExam = async (p: Platform, examId: string, eventId?: string) =>
  wsAttempts(
    await p.emulator.pushExam(LONG_CONNECTION, examPayload(examId), { appId: wsApp.appId, eventId }),
  );

async function clickOverConnection(p: Platform, examId: string, action: 'approve' | 'reject') {
  const card = cardsFor(p.emulator, examId)[0];
  if (!card) throw new Error(`no card for ${examId}`);
  return p.emulator.clickAsStaff({
    gatewayUrl: LONG_CONNECTION,
    messageId: card.messageId,
    operatorOpenId: 'ou_staff',
    value: { action, exam_id: examId },
    formValue: { reason: '' },
    name: action,
  });
}

async function untilAsync<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readyz = async (g: GatewayProcess) => {
  const response = await fetch(`${g.url}/readyz`);
  return {
    status: response.status,
    body: (await response.json()) as { feishu_connection?: { state: string } },
  };
};

describe('long connection (FEISHU_TRANSPORT=websocket)', () => {
  it('20 exams over the connection: each acknowledged 200 at the first delivery, one card each; a redelivery creates nothing; Approve answers in the ACK', async () => {
    platform = await startWsPlatform();
    const p = platform;
    const gateway = await startWsGateway(p);
    await connected(p);
    expect((await readyz(gateway)).body.feishu_connection?.state).toBe('connected');
    // Nothing is posted to the gateway: without a key or token the Feishu webhook routes are not served.
    expect((await fetch(`${gateway.url}/webhook/event`, { method: 'POST', body: '{}' })).status).toBe(404);

    const exams = Array.from({ length: 20 }, (_, i) => `ws-${i}`);
    const deliveries = await Promise.all(exams.map((id) => pushExam(p, id, `ev-${id}`)));
    for (const attempts of deliveries) {
      expect(attempts).toHaveLength(1);
      // The emulator waits 3 s for the ACK, as Feishu does: 'acked' is code 200 within 3 s.
      expect(attempts[0]).toMatchObject({ outcome: 'acked', status: 200, via: 'websocket' });
    }
    await until('20 cards', () => exams.every((id) => cardsFor(p.emulator, id).length === 1));

    // Feishu re-sends an event: the same event id in a new frame (a new message id).
    const again = await pushExam(p, 'ws-0', 'ev-ws-0');
    expect(again[0]).toMatchObject({ outcome: 'acked' });
    expect(again[0]?.messageId).not.toBe(deliveries[0]?.[0]?.messageId);
    await until('the duplicate logged', () =>
      gateway.logs.some((l) => l.eventId === 'ev-ws-0' && l.outcome === 'duplicate_event'),
    );

    const clicked = await clickOverConnection(p, 'ws-0', 'approve');
    expect(clicked.status).toBe(200);
    expect((clicked.body as { toast?: { type?: string } }).toast?.type).toBe('success');
    await until('login_info', () => loginInfoFor(p.emulator, 'ws-0').length > 0);
    // A later exam goes through the whole loop too: by then ws-0's work is surely finished.
    await pushExam(p, 'ws-late');
    await until('the late card', () => cardsFor(p.emulator, 'ws-late').length === 1);
    expect(loginInfoFor(p.emulator, 'ws-0')).toHaveLength(1);
    expect(cardsFor(p.emulator, 'ws-0')).toHaveLength(1);
  }, 60_000);

  // The SDK's WSClient listens a moment after the socket opens; a frame read with the handshake's answer
  // was dropped there, unacknowledged (an event waited for the re-push; a click would have been lost).
  it('an event written right behind the handshake (Feishu pushing as the gateway reconnects) is taken and acknowledged', async () => {
    platform = await startWsPlatform();
    const p = platform;
    await startWsGateway(p);
    await connected(p);
    const envelope = envelopeV2('hire.eco_exam.created_v1', examPayload('ws-at-open'), {
      eventId: 'ev-ws-at-open',
      appId: wsApp.appId,
      tenantKey: SELF_BUILT_TENANT,
    });
    const delivered = p.emulator.longConnection.deliverOnConnect(wsApp.appId, 'ev-ws-at-open', envelope);
    expect(p.emulator.longConnection.dropConnections(wsApp.appId)).toBe(1);
    expect(await delivered).toMatchObject({ outcome: 'acked', status: 200 });
    await until('its card', () => cardsFor(p.emulator, 'ws-at-open').length === 1);
  }, 60_000);

  it('reconnects by itself after the emulator drops the connection, and after a half-open one; the next exam gets its card', async () => {
    platform = await startWsPlatform();
    const p = platform;
    // At debug the SDK's own lines are logged too: they must not carry the secret or the URL's ticket.
    const gateway = await startWsGateway(p, tempDatabaseUrl(), { LOG_LEVEL: 'debug' });
    await connected(p);

    const [first] = p.emulator.longConnection.connections();
    expect(p.emulator.longConnection.dropConnections(wsApp.appId)).toBe(1);
    await until('a new connection after the drop', () =>
      p.emulator.longConnection.connections().find((c) => c.id !== first?.id && !c.halfOpen && c.pings > 0),
    );
    expect((await pushExam(p, 'after-drop')).at(-1)).toMatchObject({ outcome: 'acked' });
    await until('the card after the drop', () => cardsFor(p.emulator, 'after-drop').length === 1);

    const [second] = p.emulator.longConnection.connections();
    expect(p.emulator.longConnection.halfOpen(wsApp.appId)).toBe(1);
    // Bound: the liveness window, plus the watchdog's tick and one reconnect (each well under a second here).
    await until(
      'a fresh connection after the half-open one',
      () =>
        p.emulator.longConnection
          .connections()
          .find((c) => c.id !== second?.id && !c.halfOpen && c.pings > 0) &&
        p.emulator.longConnection.liveCount(wsApp.appId) === 1,
      LIVENESS_MS + 5000,
    );
    expect((await logsWritten(gateway)).some((l) => String(l.msg).includes('half-open'))).toBe(true);
    expect((await pushExam(p, 'after-half-open')).at(-1)).toMatchObject({ outcome: 'acked' });
    await until('the card after the half-open', () => cardsFor(p.emulator, 'after-half-open').length === 1);

    const logText = JSON.stringify(await logsWritten(gateway));
    expect(logText).toContain('lark-ws');
    expect(logText).not.toContain(wsApp.appSecret);
    expect(logText).toContain('ticket=***');
    expect(logText).not.toMatch(/ticket=(?!\*\*\*)/);
    expect(logText).not.toContain('18900001111');
    // Each state change is logged once, not once per attempt.
    const changes = gateway.logs
      .filter((l) => String(l.msg).startsWith('long connection '))
      .map((l) => l.state);
    expect(changes.filter((s) => s === 'connected').length).toBe(3);
  }, 60_000);

  it('/readyz: not ready while the connection stays down past the grace period, ready again once back', async () => {
    platform = await startWsPlatform();
    const p = platform;
    const gateway = await startWsGateway(p);
    await connected(p);
    expect((await readyz(gateway)).status).toBe(200);

    // Endpoint discovery fails (Feishu busy) for a while, so the reconnects fail.
    p.emulator.longConnection.failEndpoint(Number.POSITIVE_INFINITY, 1000040343);
    p.emulator.longConnection.dropConnections();
    const down = await untilAsync(
      '/readyz 503',
      async () => {
        const r = await readyz(gateway);
        return r.status === 503 ? r : undefined;
      },
      15_000,
    );
    expect(down.body.feishu_connection?.state).toBe('reconnecting');
    p.emulator.longConnection.clearEndpointFaults();
    await connected(p);
    await untilAsync('/readyz 200', async () => (await readyz(gateway)).status === 200);
  }, 60_000);

  it('a gateway SIGKILLed while events are being delivered, and restarted, loses none and posts one card per exam', async () => {
    platform = await startWsPlatform();
    const p = platform;
    const databaseUrl = tempDatabaseUrl();
    const first = await startWsGateway(p, databaseUrl);
    await connected(p);
    // Slow card posts keep the outbox busy when the kill comes.
    p.emulator.randomFaults(1, ['delay'], '/open-apis/im/');

    const exams = Array.from({ length: 30 }, (_, i) => `kill-ws-${i}`);
    // Ten are acknowledged (their cards still in the outbox, slowed down); then twenty frames are written to
    // the connection of a gateway that is frozen (SIGSTOP) and killed before it can acknowledge any of them.
    // The gateway is frozen before the frames are written: frozen after, it could read and acknowledge the
    // first of them in the meantime (seen on a loaded CI machine), and which ones it did would be luck.
    for (const id of exams.slice(0, 10)) expect((await pushExam(p, id)).at(-1)?.outcome).toBe('acked');
    process.kill(first.child.pid as number, 'SIGSTOP');
    await until('the gateway stopped', () => processState(first.child.pid as number) === 'T');
    const inFlight = exams.slice(10).map((id) => pushExam(p, id));
    await new Promise((r) => setTimeout(r, 300));
    await first.stop('SIGKILL');
    await startWsGateway(p, databaseUrl);

    const redelivered = await Promise.all(inFlight);
    p.emulator.clearFaults();
    for (const [i, attempts] of redelivered.entries()) {
      // Sent, never acknowledged (the connection closed under it), sent again to the new gateway, acknowledged.
      expect(attempts[0]?.outcome, exams[i + 10]).toBe('closed');
      expect(attempts.at(-1)?.outcome, exams[i + 10]).toBe('acked');
    }
    await until('30 cards', () => exams.every((id) => cardsFor(p.emulator, id).length >= 1), 30_000);
    for (const id of exams) expect(cardsFor(p.emulator, id), id).toHaveLength(1);
  }, 90_000);

  it('two replicas on one database each hold a connection; Feishu spreads the exams; one card each', async () => {
    platform = await startWsPlatform();
    const p = platform;
    const databaseUrl = tempDatabaseUrl();
    await startWsGateway(p, databaseUrl);
    await startWsGateway(p, databaseUrl);
    await until('two connections', () => p.emulator.longConnection.liveCount(wsApp.appId) === 2, 15_000);
    const exams = Array.from({ length: 20 }, (_, i) => `replica-${i}`);
    const deliveries = await Promise.all(exams.map((id) => pushExam(p, id)));
    for (const attempts of deliveries) expect(attempts.at(-1)?.outcome).toBe('acked');
    const used = new Set(deliveries.map((attempts) => attempts.at(-1)?.connectionId));
    expect(used.size).toBe(2);
    await until('20 cards', () => exams.every((id) => cardsFor(p.emulator, id).length >= 1));
    for (const id of exams) expect(cardsFor(p.emulator, id), id).toHaveLength(1);
  }, 60_000);

  it('a card callback sent as a type=card frame (which the SDK alone would drop) is answered all the same', async () => {
    platform = await startWsPlatform('card');
    const p = platform;
    await startWsGateway(p);
    await connected(p);
    await pushExam(p, 'card-frame');
    await until('the card', () => cardsFor(p.emulator, 'card-frame').length === 1);
    const clicked = await clickOverConnection(p, 'card-frame', 'approve');
    expect(clicked.status).toBe(200);
    expect((clicked.body as { toast?: { type?: string } }).toast?.type).toBe('success');
    await until('login_info', () => loginInfoFor(p.emulator, 'card-frame').length === 1);
  }, 30_000);

  it('SIGTERM: the connection is closed after in-flight frames are acknowledged, and the process exits 0', async () => {
    platform = await startWsPlatform();
    const p = platform;
    const gateway = await startWsGateway(p);
    await connected(p);
    const delivering = pushExam(p, 'at-shutdown');
    const code = await gateway.stop('SIGTERM');
    expect(code).toBe(0);
    await until('the connection closed', () => p.emulator.longConnection.connections().length === 0);
    const attempts = await Promise.race([
      delivering,
      new Promise<WsDeliveryAttempt[]>((r) => setTimeout(() => r([]), 200)),
    ]);
    // Either it was acknowledged before the close, or it is being re-sent (no connection now): never lost.
    if (attempts.length > 0) expect(attempts.at(-1)?.outcome).toBe('acked');
    expect(gateway.logs.some((l) => l.msg === 'long connection stopped')).toBe(true);
  }, 30_000);
});
