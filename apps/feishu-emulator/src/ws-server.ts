// Feishu's long connection (长连接), the server side: endpoint discovery, a WebSocket speaking pbbp2 frames,
// ping/pong, events and card callbacks as data frames to one random live connection of the app (cluster
// mode), 3 s acknowledgement timeouts and the re-push schedule. Facts: reference doc section 4 (4.3 wire
// protocol, 4.4 the node SDK's quirks this server respects).
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { type WebSocket, WebSocketServer } from 'ws';
import { decodeFrame, encodeFrame, type Frame, FrameMethod, headerValue } from './pbbp2.js';
import type { PushAttempt } from './push.js';

/** The value a push's target takes to go over the long connection instead of a webhook URL. */
export const LONG_CONNECTION = 'long-connection';

/** What the endpoint and every pong tell the client. Seconds, as Feishu sends them. */
export interface ClientConfig {
  readonly ReconnectCount: number;
  readonly ReconnectInterval: number;
  readonly ReconnectNonce: number;
  readonly PingInterval: number;
}

/** The SDK's defaults (node-sdk ws-config.ts), which Feishu's own values are believed to match. */
export const FEISHU_CLIENT_CONFIG: ClientConfig = {
  ReconnectCount: -1,
  ReconnectInterval: 120,
  ReconnectNonce: 30,
  PingInterval: 120,
};

/** Feishu allows at most 50 connections per app. */
export const MAX_CONNECTIONS_PER_APP = 50;
/** Feishu waits this long for the acknowledgement of a data frame. */
export const ACK_TIMEOUT_MS = 3000;

/** Handshake auth error code for "too many connections" (oapi-sdk-go ws/const.go). */
const EXCEED_CONN_LIMIT = 1000040350;
const AUTH_FAILED = 514;

export interface LongConnectionApp {
  readonly appId: string;
  readonly appSecret: string;
}

export interface LongConnectionOptions {
  readonly apps: ReadonlyMap<string, LongConnectionApp>;
  readonly retrySchedule: readonly number[];
  readonly random: () => number;
  /** Partial values are completed from Feishu's: the node SDK turns a missing field into a ping storm. */
  readonly clientConfig?: Partial<ClientConfig> | undefined;
  readonly ackTimeoutMs?: number | undefined;
  readonly maxConnections?: number | undefined;
  /**
   * The `type` header of card callbacks. Feishu's SDKs handle only `event` (node drops `card` frames without
   * an acknowledgement), so `event` is the default; `card` is a fault mode: some users report such frames.
   */
  readonly cardFrameType?: 'event' | 'card' | undefined;
  /** Split payloads into fragments of this many bytes (sum/seq headers); default: one frame. */
  readonly fragmentBytes?: number | undefined;
}

export type DeliveryOutcome = 'acked' | 'not_ok' | 'timeout' | 'no_connection' | 'closed';

export interface WsDeliveryAttempt extends PushAttempt {
  readonly via: 'websocket';
  readonly kind: 'event' | 'card';
  readonly messageId: string;
  readonly connectionId: string | undefined;
  readonly outcome: DeliveryOutcome;
  /** The acknowledgement's decoded `data` (base64 JSON), when it had one. */
  readonly reply?: unknown;
}

export interface ConnectionInfo {
  readonly id: string;
  readonly appId: string;
  readonly connectedAt: number;
  readonly halfOpen: boolean;
  readonly pings: number;
}

interface Connection {
  readonly id: string;
  readonly appId: string;
  readonly serviceId: number;
  readonly socket: WebSocket;
  readonly connectedAt: number;
  halfOpen: boolean;
  pings: number;
}

interface PendingAck {
  readonly connection: Connection;
  readonly resolve: (ack: { outcome: DeliveryOutcome; code?: number; reply?: unknown }) => void;
}

interface Ticket {
  readonly appId: string;
  readonly serviceId: number;
  readonly expiresAt: number;
}

const TICKET_TTL_MS = 60_000;

export function createLongConnectionServer(options: LongConnectionOptions) {
  const clientConfig: ClientConfig = { ...FEISHU_CLIENT_CONFIG, ...options.clientConfig };
  const ackTimeoutMs = options.ackTimeoutMs ?? ACK_TIMEOUT_MS;
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS_PER_APP;
  const tickets = new Map<string, Ticket>();
  const connections = new Map<string, Connection>();
  const pending = new Map<string, PendingAck>();
  const deliveries: WsDeliveryAttempt[] = [];
  const wss = new WebSocketServer({ noServer: true });
  let seqId = 0;
  /** Events the endpoint answers with an error instead of a URL (in-process fault injection). */
  let endpointFault: { remaining: number; code: number; data: 'object' | 'null' } | undefined;

  /**
   * Open connections of an app (not half-open): what the connection limit counts, and where a frame is sent,
   * from the handshake on, as Feishu's side knows nothing of the client's state. (The SDK's WSClient attaches
   * its message listener a moment after 'open': node-sdk 1.74.0 lib/index.js, connect() resolves at 'open',
   * then tryConnect calls communicate(); a frame read with the handshake's answer fell in that window and was
   * dropped unseen. The emulator used to wait for the client's first ping, which hid it; the gateway holds the
   * socket's frames until it listens.)
   */
  const openFor = (appId: string) =>
    [...connections.values()].filter((c) => c.appId === appId && !c.halfOpen && c.socket.readyState === 1);
  /** A frame to send to an app's next connection in the same write as its handshake's answer (deliverOnConnect). */
  const onConnect = new Map<string, (connection: Connection) => void>();

  function endpoint(ctx: Context, body: unknown): void {
    const { AppID, AppSecret } = (body ?? {}) as { AppID?: unknown; AppSecret?: unknown };
    const fault = endpointFault && endpointFault.remaining > 0 ? endpointFault : undefined;
    if (fault) {
      fault.remaining--;
      ctx.body = { code: fault.code, msg: 'system busy', data: fault.data === 'object' ? {} : null };
      return;
    }
    const app = typeof AppID === 'string' ? options.apps.get(AppID) : undefined;
    if (!app || app.appSecret !== AppSecret) {
      // With an object `data`, node ≥1.63 treats this as fatal; that is Feishu's meaning of 514.
      ctx.body = { code: AUTH_FAILED, msg: 'auth failed: app id or secret invalid', data: {} };
      return;
    }
    const ticket = randomBytes(16).toString('hex');
    const serviceId = 1000 + Math.floor(options.random() * 9000);
    tickets.set(ticket, { appId: app.appId, serviceId, expiresAt: Date.now() + TICKET_TTL_MS });
    // `fpid` comes first: the node SDK parses the whole URL with querystring.parse, so the first parameter's
    // key swallows the path ("ws://host/ws/v2?fpid") and device_id must not be that one (doc 4.4 item 2).
    const url =
      `ws://${ctx.host}/ws/v2?fpid=493&device_id=${randomUUID().replaceAll('-', '').slice(0, 16)}` +
      `&access_key=${randomBytes(8).toString('hex')}&service_id=${serviceId}&ticket=${ticket}`;
    ctx.body = { code: 0, msg: 'ok', data: { URL: url, ClientConfig: clientConfig } };
  }

  function refuseHandshake(socket: Duplex, status: number, message: string, authErr?: number): void {
    const reason = status === 403 ? 'Forbidden' : 'Unauthorized';
    socket.end(
      `HTTP/1.1 ${status === 403 ? 403 : 401} ${reason}\r\n` +
        `Handshake-Status: ${status}\r\nHandshake-Msg: ${message}\r\n` +
        (authErr ? `Handshake-Autherrcode: ${authErr}\r\n` : '') +
        'Connection: close\r\nContent-Length: 0\r\n\r\n',
    );
  }

  function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'ws://emulator');
    if (url.pathname !== '/ws/v2') {
      socket.destroy();
      return;
    }
    const ticketId = url.searchParams.get('ticket') ?? '';
    const ticket = tickets.get(ticketId);
    tickets.delete(ticketId);
    if (!ticket || ticket.expiresAt < Date.now()) {
      refuseHandshake(socket, 403, 'ticket invalid or expired');
      return;
    }
    if (openFor(ticket.appId).length >= maxConnections) {
      refuseHandshake(socket, AUTH_FAILED, 'exceed connection limit', EXCEED_CONN_LIMIT);
      return;
    }
    // A frame for the next connection (deliverOnConnect) goes out in one write with the 101 answer, so that
    // the client reads both at once, as it may from Feishu across a network.
    const withFrame = onConnect.has(ticket.appId);
    if (withFrame) socket.cork();
    wss.handleUpgrade(request, socket, head, (ws) => {
      accept(ws, ticket);
      if (withFrame) socket.uncork();
    });
  }

  function accept(socket: WebSocket, ticket: Ticket): void {
    const connection: Connection = {
      id: `conn_${randomBytes(6).toString('hex')}`,
      appId: ticket.appId,
      serviceId: ticket.serviceId,
      socket,
      connectedAt: Date.now(),
      halfOpen: false,
      pings: 0,
    };
    connections.set(connection.id, connection);
    const hook = onConnect.get(ticket.appId);
    onConnect.delete(ticket.appId);
    hook?.(connection);
    socket.on('message', (data, isBinary) => {
      // A half-open connection: the client's frames go nowhere.
      if (connection.halfOpen || !isBinary) return;
      let frame: Frame;
      try {
        frame = decodeFrame(toBytes(data));
      } catch {
        return;
      }
      if (frame.method === FrameMethod.control) {
        if (headerValue(frame, 'type') !== 'ping') return;
        connection.pings++;
        send(connection, {
          SeqID: 0,
          LogID: 0,
          service: connection.serviceId,
          method: FrameMethod.control,
          headers: [{ key: 'type', value: 'pong' }],
          payload: new TextEncoder().encode(JSON.stringify(clientConfig)),
        });
        return;
      }
      acknowledged(connection, frame);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      connections.delete(connection.id);
      for (const [messageId, p] of pending)
        if (p.connection === connection) {
          pending.delete(messageId);
          p.resolve({ outcome: 'closed' });
        }
    });
  }

  function acknowledged(connection: Connection, frame: Frame): void {
    const messageId = headerValue(frame, 'message_id') ?? '';
    const waiting = pending.get(messageId);
    if (!waiting || waiting.connection !== connection) return;
    pending.delete(messageId);
    let ack: { code?: unknown; data?: unknown };
    try {
      ack = JSON.parse(new TextDecoder().decode(frame.payload ?? new Uint8Array())) as typeof ack;
    } catch {
      waiting.resolve({ outcome: 'not_ok' });
      return;
    }
    const code = typeof ack.code === 'number' ? ack.code : undefined;
    let reply: unknown;
    if (typeof ack.data === 'string' && ack.data !== '') {
      const text = Buffer.from(ack.data, 'base64').toString('utf8');
      try {
        reply = JSON.parse(text);
      } catch {
        reply = text;
      }
    }
    waiting.resolve({ outcome: code === 200 ? 'acked' : 'not_ok', ...(code ? { code } : {}), reply });
  }

  function send(connection: Connection, frame: Frame): void {
    if (connection.socket.readyState === 1) connection.socket.send(encodeFrame(frame));
  }

  /** Sends one data frame (fragmented if configured) to one random live connection and waits for its ACK. */
  async function sendOnce(
    appId: string,
    kind: 'event' | 'card',
    payload: Uint8Array,
    to?: Connection,
  ): Promise<{
    outcome: DeliveryOutcome;
    code?: number;
    reply?: unknown;
    messageId: string;
    connectionId?: string;
  }> {
    const messageId = `msg_${randomBytes(10).toString('hex')}`;
    const live = to ? [to] : openFor(appId);
    if (live.length === 0) return { outcome: 'no_connection', messageId };
    const connection = live[Math.floor(options.random() * live.length)] as Connection;
    const size = options.fragmentBytes && options.fragmentBytes > 0 ? options.fragmentBytes : payload.length;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < payload.length || parts.length === 0; i += size)
      parts.push(payload.subarray(i, i + size));
    const traceId = randomUUID();
    const type = kind === 'card' ? (options.cardFrameType ?? 'event') : 'event';
    const ack = new Promise<{ outcome: DeliveryOutcome; code?: number; reply?: unknown }>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(messageId);
        resolve({ outcome: 'timeout' });
      }, ackTimeoutMs);
      pending.set(messageId, {
        connection,
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
      });
    });
    const id = ++seqId;
    parts.forEach((part, seq) => {
      send(connection, {
        SeqID: id,
        LogID: Math.floor(options.random() * 2 ** 40),
        service: connection.serviceId,
        method: FrameMethod.data,
        headers: [
          { key: 'type', value: type },
          { key: 'message_id', value: messageId },
          { key: 'sum', value: String(parts.length) },
          { key: 'seq', value: String(seq) },
          { key: 'trace_id', value: traceId },
          { key: 'timestamp', value: String(Date.now()) },
        ],
        payload: part,
      });
    });
    return { ...(await ack), messageId, connectionId: connection.id };
  }

  const statusOf = (outcome: DeliveryOutcome, code: number | undefined): PushAttempt['status'] =>
    outcome === 'acked' || outcome === 'not_ok' ? (code ?? 0) : outcome === 'timeout' ? 'timeout' : 'error';

  /** What one delivery over the long connection is recorded as (the console and the tests read these). */
  const deliveryRecord = (
    kind: WsDeliveryAttempt['kind'],
    eventId: string,
    attempt: number,
    started: number,
    sent: Awaited<ReturnType<typeof sendOnce>>,
  ): WsDeliveryAttempt => ({
    via: 'websocket',
    kind,
    eventId,
    attempt,
    status: statusOf(sent.outcome, sent.code),
    ms: Date.now() - started,
    at: started,
    messageId: sent.messageId,
    connectionId: sent.connectionId,
    outcome: sent.outcome,
    ...(sent.reply !== undefined ? { reply: sent.reply } : {}),
  });

  return {
    deliveries,
    clientConfig,

    mount(router: Router, readJson: (ctx: Context) => Promise<unknown>): void {
      router.post('/callback/ws/endpoint', async (ctx) => endpoint(ctx, await readJson(ctx)));
      router.get('/_emulator/ws/connections', (ctx) => {
        ctx.body = { connections: this.connections() };
      });
      router.get('/_emulator/ws/deliveries', (ctx) => {
        ctx.body = { deliveries };
      });
      router.post('/_emulator/ws/drop', async (ctx) => {
        const { app_id } = ((await readJson(ctx)) ?? {}) as { app_id?: string };
        ctx.body = { dropped: this.dropConnections(app_id) };
      });
      router.post('/_emulator/ws/half-open', async (ctx) => {
        const { app_id } = ((await readJson(ctx)) ?? {}) as { app_id?: string };
        ctx.body = { halfOpen: this.halfOpen(app_id) };
      });
    },

    /** Serves the WebSocket on the emulator's HTTP server (upgrade requests to /ws/v2). */
    attach(server: Server): void {
      server.on('upgrade', upgrade);
    },

    connections(): ConnectionInfo[] {
      return [...connections.values()].map((c) => ({
        id: c.id,
        appId: c.appId,
        connectedAt: c.connectedAt,
        halfOpen: c.halfOpen,
        pings: c.pings,
      }));
    },

    /** Live connections of an app: open and not half-open (openFor). */
    liveCount: (appId: string) => openFor(appId).length,

    /** Closes the app's connections (all apps' without an id) abruptly, as a network drop would. */
    dropConnections(appId?: string): number {
      let dropped = 0;
      for (const c of connections.values())
        if (!appId || c.appId === appId) {
          c.socket.terminate();
          dropped++;
        }
      return dropped;
    },

    /**
     * The app's current connections go half-open: TCP stays up but nothing passes any more (no pong, no
     * frames either way). The client only notices through its own liveness check.
     */
    halfOpen(appId?: string): number {
      let count = 0;
      for (const c of connections.values())
        if ((!appId || c.appId === appId) && !c.halfOpen) {
          c.halfOpen = true;
          count++;
        }
      return count;
    },

    clearEndpointFaults(): void {
      endpointFault = undefined;
    },

    /** The next `count` endpoint calls fail with `code`; `data: 'null'` is the shape node retries whatever the code. */
    failEndpoint(count: number, code: number, data: 'object' | 'null' = 'null'): void {
      endpointFault = { remaining: count, code, data };
    },

    /**
     * Delivers an event as Feishu does over the long connection: a data frame to one random live connection,
     * re-sent (a new message id, the same event) after each delay of the schedule until acknowledged with
     * code 200 within the timeout.
     */
    async deliverEvent(appId: string, eventId: string, envelope: object): Promise<WsDeliveryAttempt[]> {
      const payload = new TextEncoder().encode(JSON.stringify(envelope));
      const attempts: WsDeliveryAttempt[] = [];
      for (let attempt = 0; attempt <= options.retrySchedule.length; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, options.retrySchedule[attempt - 1]));
        const started = Date.now();
        const sent = await sendOnce(appId, 'event', payload);
        const record = deliveryRecord('event', eventId, attempt + 1, started, sent);
        attempts.push(record);
        deliveries.push(record);
        if (sent.outcome === 'acked') break;
      }
      return attempts;
    },

    /**
     * Delivers an event once to the app's next connection, written right behind its handshake's answer (so
     * that the client reads both at once): what happens when Feishu pushes just as a client connects.
     */
    deliverOnConnect(appId: string, eventId: string, envelope: object): Promise<WsDeliveryAttempt> {
      const payload = new TextEncoder().encode(JSON.stringify(envelope));
      return new Promise((resolve) => {
        onConnect.set(appId, (connection) => {
          const started = Date.now();
          void sendOnce(appId, 'event', payload, connection).then((sent) => {
            const record = deliveryRecord('event', eventId, 1, started, sent);
            deliveries.push(record);
            resolve(record);
          });
        });
      });
    },

    /** Delivers a card callback once (callbacks are answered synchronously, not re-pushed). */
    async deliverCallback(appId: string, eventId: string, envelope: object): Promise<WsDeliveryAttempt> {
      const started = Date.now();
      const sent = await sendOnce(appId, 'card', new TextEncoder().encode(JSON.stringify(envelope)));
      const record = deliveryRecord('card', eventId, 1, started, sent);
      deliveries.push(record);
      return record;
    },

    close(): void {
      for (const c of connections.values()) c.socket.terminate();
      wss.close();
    },
  };
}

export type LongConnectionServer = ReturnType<typeof createLongConnectionServer>;

function toBytes(data: unknown): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data as Buffer;
}
