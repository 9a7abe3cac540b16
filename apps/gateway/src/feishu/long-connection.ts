// long-connection: Feishu's events and card callbacks over the WebSocket the gateway dials (长连接), with the
// official SDK's WSClient doing endpoint discovery, frames, pings and acknowledgements. Around it, what the
// SDK lacks (reference doc sections 4.3 (g) and 5, and what its source in lib/index.js shows):
//
// - Reconnects. The SDK's own loop retries at the server's fixed interval with one random delay, gives up for
//   good on some endpoint codes (node ≥1.63 treats code 1 "system busy" as fatal), and after close() leaves
//   `isConnecting` stuck. We run it with autoReconnect: false, one WSClient per connection, and reconnect
//   ourselves with exponential backoff and jitter, whatever ended the previous connection.
// - Half-open connections. The SDK's pingTimeout watchdog is off by default and is re-armed at every ping, so
//   it never fires when it is longer than the ping interval. We watch the socket ourselves: no frame at all
//   (pong or data) within FEISHU_WS_LIVENESS_MS and the socket is terminated and replaced.
// - `type=card` frames. The SDK handles only `type=event` and drops the rest without an ACK (the user sees
//   200341); some users report card callbacks arriving as `card` (reference doc 4.4 item 5). We read them as
//   events: the SDK's frame handler is wrapped so it sees `event` (its ACK then echoes `event` too, with the
//   same message_id; the emulator matches ACKs by message_id, what Feishu checks is not documented).
// - start() does nothing, silently, for an app id other than cli_ + 16 hex digits: config.ts refuses such ids
//   with FEISHU_TRANSPORT=websocket, and a connection attempt without any callback in 30 s is retried.
// - A pong (or endpoint answer) whose ClientConfig lacks PingInterval makes the SDK ping every millisecond
//   (NaN × 1000 as a setTimeout delay). Once connected, and after every inbound frame, we put a non-finite
//   interval back to Feishu's 120 s.
// - Shutdown. close() would drop frames whose handler is still running (their ACK is never written, so Feishu
//   pushes them again 15 s later). We refuse new events (code 500: Feishu re-sends, to another replica), but
//   still answer card callbacks (a click is never re-pushed), wait for the running ones, let the SDK write
//   their ACKs, then close.
//
// The SDK hands each frame's JSON to `eventDispatcher.invoke(data)` and puts what it returns, base64 JSON, in
// the ACK's data (code 200), or answers code 500 when it throws. We pass our own object with that one method
// instead of the SDK's EventDispatcher, so frames go through the same event-core pipeline as the webhook.
import * as lark from '@larksuiteoapi/node-sdk';
import { handlePush, type PushDeps } from '../events/push.js';
import type { Logger } from '../log.js';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'stopped';

export interface LongConnectionStatus {
  readonly state: ConnectionState;
  /** Connected, or down for less than the grace period after having connected (a reconnect is routine). */
  readonly ready: boolean;
  /** How long the connection has been down; 0 while connected. */
  readonly downForMs: number;
}

export interface LongConnectionOptions {
  readonly appId: string;
  readonly appSecret: string;
  /** The Open Platform base URL; the SDK asks `${domain}/callback/ws/endpoint` where to connect. */
  readonly domain: string;
  readonly livenessMs: number;
  readonly readyGraceMs: number;
  readonly reconnectMaxMs: number;
  /** One frame's plaintext JSON in; the ACK's data out (undefined: none). Throwing answers code 500. */
  readonly handle: (envelope: unknown) => Promise<unknown>;
  readonly log: Logger;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Tests put a scripted client here; production uses the SDK's. */
  readonly createClient?: (params: WSClientParams) => lark.WSClient;
}

export type WSClientParams = ConstructorParameters<typeof lark.WSClient>[0];

/** The endpoint call times out at 15 s inside the SDK, the handshake at HANDSHAKE_TIMEOUT_MS. */
const CONNECT_TIMEOUT_MS = 30_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const RECONNECT_BASE_MS = 1000;
/** Feishu's ping interval, and the SDK's default. */
const DEFAULT_PING_INTERVAL_MS = 120_000;

/** The part of the `ws` socket we watch. */
interface WatchedSocket {
  on(event: 'message' | 'close', listener: () => void): unknown;
  terminate(): void;
}

interface DataFrame {
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: string }>;
}

/** The SDK's private parts we use, pinned to @larksuiteoapi/node-sdk 1.74.0 (the e2e tests cover them). */
interface WSClientInternals {
  readonly wsConfig: {
    getWSInstance(): WatchedSocket | null;
    getWS(key: 'pingInterval' | 'reconnectNonce'): number | undefined;
    updateWs(values: { pingInterval: number }): void;
  };
  handleEventData(frame: DataFrame): Promise<void>;
}

export class LongConnection {
  readonly #o: LongConnectionOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  #state: ConnectionState = 'stopped';
  #client: lark.WSClient | undefined;
  #socket: WatchedSocket | undefined;
  /** Bumped whenever a connection is given up: callbacks of an older one are ignored. */
  #session = 0;
  #attempt = 0;
  #downSince = 0;
  /** The grace period is for reconnects: before its first connection a replica has proven nothing. */
  #connectedOnce = false;
  #lastInbound = 0;
  /** How long this outage waits for the server's ReconnectNonce jitter: /readyz's grace is that much longer. */
  #nonceWaitMs = 0;
  #draining = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(options: LongConnectionOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  start(): void {
    if (this.#state !== 'stopped' || this.#draining) return;
    this.#downSince = this.#now();
    const every = Math.max(50, Math.min(1000, Math.floor(this.#o.livenessMs / 4)));
    this.#watchdog = setInterval(() => this.#checkLiveness(), every);
    this.#watchdog.unref();
    this.#open();
  }

  status(): LongConnectionStatus {
    const downForMs = this.#state === 'connected' ? 0 : this.#now() - this.#downSince;
    return {
      state: this.#state,
      ready:
        this.#state === 'connected' ||
        (this.#connectedOnce &&
          this.#state !== 'stopped' &&
          downForMs <= this.#o.readyGraceMs + this.#nonceWaitMs),
      downForMs,
    };
  }

  /** Refuses new frames, waits for the running ones to be acknowledged, then closes the connection. */
  async close(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    clearInterval(this.#watchdog);
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    // A card callback may still come in while we wait (see #receive): wait for it too.
    do {
      await Promise.allSettled([...this.#inFlight]);
      // The SDK writes the ACK in the continuation of our settled promise: one turn of the loop later.
      await new Promise((resolve) => setImmediate(resolve));
    } while (this.#inFlight.size > 0);
    this.#session++;
    const client = this.#client;
    this.#client = undefined;
    this.#socket = undefined;
    this.#setState('stopped');
    // Not forced: the close frame is queued behind the ACKs just written.
    client?.close();
  }

  #open(): void {
    const session = ++this.#session;
    // A retry stays 'reconnecting': the outage is logged once, not once per attempt.
    if (this.#state === 'stopped') this.#setState('connecting');
    const client = (this.#o.createClient ?? ((p: WSClientParams) => new lark.WSClient(p)))({
      appId: this.#o.appId,
      appSecret: this.#o.appSecret,
      domain: this.#o.domain,
      autoReconnect: false,
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      loggerLevel: lark.LoggerLevel.debug,
      logger: sdkLogger(this.#o.log),
      onReady: () => this.#connected(session, client),
      onError: (err) => this.#ended(session, `could not connect: ${err.message}`),
    });
    this.#client = client;
    readCardFramesAsEvents(client as unknown as WSClientInternals);
    holdFramesUntilListening(client as unknown as ListeningInternals);
    // start() returns without a callback when it refuses (an app id that is not cli_ + 16 hex digits).
    this.#connectTimer = setTimeout(
      () => this.#ended(session, 'no connection within 30 s'),
      CONNECT_TIMEOUT_MS,
    );
    const dispatcher = { invoke: (data: unknown) => this.#receive(data) };
    void client.start({ eventDispatcher: dispatcher as unknown as lark.EventDispatcher });
  }

  #connected(session: number, client: lark.WSClient): void {
    if (session !== this.#session || this.#draining) return;
    clearTimeout(this.#connectTimer);
    const internals = client as unknown as WSClientInternals;
    const socket = internals.wsConfig.getWSInstance();
    if (!socket) {
      this.#ended(session, 'the SDK reported a connection but holds no socket');
      return;
    }
    this.#socket = socket;
    this.#lastInbound = this.#now();
    // NaN (a ClientConfig field missing) or 0 and below: the SDK would ping in a loop, every millisecond.
    const repairPingInterval = () => {
      const pingInterval = internals.wsConfig.getWS('pingInterval');
      if (!(typeof pingInterval === 'number' && Number.isFinite(pingInterval) && pingInterval > 0))
        internals.wsConfig.updateWs({ pingInterval: DEFAULT_PING_INTERVAL_MS });
    };
    // A ping interval Feishu sets (at the endpoint, or later in a pong's ClientConfig) that the liveness bound
    // does not outlast: a quiet healthy connection would be replaced at every bound. Said once per value.
    let warnedFor: number | undefined;
    const warnIfPingOutlivesLiveness = () => {
      const pingInterval = internals.wsConfig.getWS('pingInterval');
      if (pingInterval === undefined || pingInterval < this.#o.livenessMs || pingInterval === warnedFor)
        return;
      warnedFor = pingInterval;
      this.#o.log.warn(
        { pingIntervalMs: pingInterval, livenessMs: this.#o.livenessMs },
        "FEISHU_WS_LIVENESS_MS is not longer than Feishu's ping interval: healthy connections will be replaced",
      );
    };
    // The endpoint's ClientConfig may have left it NaN already: the SDK pinged at open and is looping.
    repairPingInterval();
    socket.on('message', () => {
      this.#attempt = 0;
      this.#lastInbound = this.#now();
      // Runs after the SDK's own listener has applied a pong's ClientConfig (synchronously, same emit).
      repairPingInterval();
      warnIfPingOutlivesLiveness();
    });
    socket.on('close', () => this.#ended(session, 'the connection closed'));
    this.#setState('connected');
    warnIfPingOutlivesLiveness();
  }

  /** Gives up the current connection (if `session` is still it) and schedules the next one. */
  #ended(session: number, reason: string): void {
    if (session !== this.#session || this.#draining) return;
    this.#session++;
    clearTimeout(this.#connectTimer);
    const client = this.#client;
    const wasConnected = this.#state === 'connected';
    // The server's ReconnectNonce (ms), as the endpoint and the latest pong gave it.
    const nonce = wasConnected
      ? (client as unknown as WSClientInternals | undefined)?.wsConfig.getWS('reconnectNonce')
      : undefined;
    this.#client = undefined;
    this.#socket = undefined;
    // Forced: frames still being handled on this connection cannot be acknowledged any more; Feishu re-sends.
    client?.close({ force: true });
    if (this.#state === 'connected') this.#downSince = this.#now();
    const cap = Math.min(this.#o.reconnectMaxMs, RECONNECT_BASE_MS * 2 ** Math.min(this.#attempt, 20));
    // Equal jitter: replicas that lost their connections together do not come back in step. And after a
    // connection that was up, not before random() × the server's ReconnectNonce, as the SDK waits (lib/index.js
    // reConnect): clients a Feishu server dropped together are spread over that window, not all back at once.
    const nonceMs =
      typeof nonce === 'number' && Number.isFinite(nonce) && nonce > 0 ? this.#random() * nonce : 0;
    if (wasConnected) this.#nonceWaitMs = nonceMs;
    const delayMs = Math.round(Math.max(cap / 2 + (this.#random() * cap) / 2, nonceMs));
    this.#attempt++;
    this.#o.log.debug({ reason, attempt: this.#attempt, delayMs }, 'long connection: retrying');
    this.#setState('reconnecting', { reason, delayMs });
    this.#retryTimer = setTimeout(() => this.#open(), delayMs);
  }

  #checkLiveness(): void {
    if (this.#state !== 'connected' || !this.#socket) return;
    const silentMs = this.#now() - this.#lastInbound;
    if (silentMs <= this.#o.livenessMs) return;
    this.#o.log.warn(
      { silentMs, livenessMs: this.#o.livenessMs },
      'long connection: no frame within the liveness bound (half-open); replacing it',
    );
    const session = this.#session;
    this.#socket.terminate();
    this.#ended(session, 'half-open: no frame within the liveness bound');
  }

  async #receive(data: unknown): Promise<unknown> {
    this.#lastInbound = this.#now();
    // Code 500: Feishu delivers it again, to another connection or to us once restarted. Not a card callback:
    // Feishu never re-pushes a click (the user would only see an error), so it is answered while we drain.
    if (this.#draining && !isCardCallback(data)) throw new Error('the gateway is shutting down');
    const handled = this.#o.handle(data);
    this.#inFlight.add(handled);
    try {
      return await handled;
    } finally {
      this.#inFlight.delete(handled);
    }
  }

  #setState(next: ConnectionState, detail: Record<string, unknown> = {}): void {
    if (next === this.#state) return;
    const previous = this.#state;
    this.#state = next;
    if (next === 'connected') this.#connectedOnce = true;
    const line = { previous, state: next, ...detail };
    if (next === 'reconnecting') this.#o.log.warn(line, 'long connection down; reconnecting');
    else this.#o.log.info(line, `long connection ${next}`);
  }
}

function isCardCallback(data: unknown): boolean {
  const header = (data as { header?: { event_type?: unknown } } | null | undefined)?.header;
  return header?.event_type === 'card.action.trigger';
}

/** The SDK's private parts that put the socket in place and start listening to it (1.74.0, as above). */
interface ListeningInternals {
  readonly wsConfig: {
    setWSInstance(ws: { pause(): void } | null): void;
    getWSInstance(): { resume(): void } | null;
  };
  communicate(): void;
}

/**
 * The SDK stores the socket at 'open' but attaches its message listener a moment later (connect() resolves at
 * 'open', then tryConnect calls communicate()), and `ws` emits the frames read with the handshake's answer
 * before that: a frame Feishu wrote right behind the 101 was dropped unseen, with no ACK (an event waited for
 * Feishu's re-push, 15 s on; a card click, never re-pushed, was lost). The socket is paused as it is stored and
 * resumed once the listener is on, so those frames wait in its buffer.
 */
function holdFramesUntilListening(internals: ListeningInternals): void {
  const { wsConfig } = internals;
  if (typeof internals.communicate !== 'function' || typeof wsConfig?.setWSInstance !== 'function') return;
  const setWSInstance = wsConfig.setWSInstance.bind(wsConfig);
  wsConfig.setWSInstance = (ws) => {
    ws?.pause();
    setWSInstance(ws);
  };
  const communicate = internals.communicate.bind(internals);
  internals.communicate = () => {
    communicate();
    wsConfig.getWSInstance()?.resume();
  };
}

function readCardFramesAsEvents(internals: WSClientInternals): void {
  const handle = internals.handleEventData;
  if (typeof handle !== 'function') return;
  internals.handleEventData = function (this: unknown, frame: DataFrame) {
    const isCard = frame.headers.some((h) => h.key === 'type' && h.value === 'card');
    const seen = isCard
      ? {
          ...frame,
          headers: frame.headers.map((h) => (h.key === 'type' ? { key: 'type', value: 'event' } : h)),
        }
      : frame;
    return handle.call(this, seen);
  };
}

/**
 * A frame's plaintext JSON goes through the webhook's pipeline (event-core's parse and validation, the same
 * dispatcher and dedupe). There is no signature on this path; the connection was opened with the app secret.
 * A payload sealed as `{"encrypt": …}` is opened with the encrypt key, as the SDK's EventDispatcher does
 * (Feishu documents plaintext pushes here, but without the key such a frame would be answered 500 at every
 * re-push). The verification token is deliberately not checked (nor is it by the SDK): should Feishu leave it
 * out of frames, every push would be refused, and acknowledged, and lost.
 * The answer becomes the ACK: a card callback's toast and card as its data. Anything the webhook would not
 * answer 200 throws, so the SDK answers code 500 and Feishu pushes it again, as it does after a webhook's 4xx
 * or 5xx: a failure a re-push could cure (5xx), and a push refused before it was read as an event (over
 * MAX_BODY_BYTES, sealed with another key, not an envelope), which an operator may cure meanwhile (acknowledged,
 * it was lost). A verified event whose payload is broken is recorded and acknowledged (handlePush: 200). A card
 * callback is never pushed again: it is answered with its toast.
 */
export function longConnectionHandler(deps: PushDeps, maxBodyBytes: number) {
  const secrets = { encryptKey: deps.secrets.encryptKey, authenticatedChannel: true, maxBodyBytes };
  return async (envelope: unknown): Promise<unknown> => {
    const rawBody = Buffer.from(JSON.stringify(envelope) ?? 'null');
    const answer = await handlePush({ headers: {}, rawBody }, { ...deps, secrets }, 'long-connection');
    if (answer.status >= 500 || (answer.status !== 200 && !isCardCallback(envelope)))
      throw new Error(String(answer.body.code ?? 'not_acknowledged'));
    return answer.status === 200 && answer.eventType === 'card.action.trigger' ? answer.body : undefined;
  };
}

/** The SDK's chatter goes to debug (we log state changes ourselves), without the URL's one-time ticket. */
function sdkLogger(log: Logger) {
  const line =
    (level: 'warn' | 'debug' | 'trace') =>
    (...args: unknown[]) => {
      const text = args
        .map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a)))
        .join(' ')
        .replace(/([?&](?:ticket|access_key)=)[^&\s]+/g, '$1***');
      log[level]({ component: 'lark-ws' }, text);
    };
  return {
    // Its errors stay visible (a frame it could not decode is a lost event); a failed attempt repeats at most
    // once per backoff step.
    error: line('warn'),
    warn: line('debug'),
    info: line('debug'),
    debug: line('debug'),
    trace: line('trace'),
  };
}
