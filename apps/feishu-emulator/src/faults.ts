/**
 * Faults to inject into Open Platform calls: the next N matching calls, a random share of them, or all of
 * them (an outage, until it is ended).
 *
 * - `http_500`: HTTP 500, code 1 (internal error): transient.
 * - `http_503`: HTTP 503 from the gateway in front of the Open Platform, no Feishu body: transient.
 * - `rate_limit`: HTTP 429, code 99991400, with `x-ogw-ratelimit-reset`: transient.
 * - `token_expired`: HTTP 400, code 99991663, and the presented token is forgotten: transient.
 * - `invalid_request`: HTTP 400, code 99992402 (field validation failed): Feishu refused the request as
 *   invalid, the one permanent failure here.
 * - `delay`: the call is answered normally after `delayMs`.
 */
export type FaultKind =
  | 'http_500'
  | 'http_503'
  | 'rate_limit'
  | 'token_expired'
  | 'invalid_request'
  | 'delay';

/** Every Open Platform call fails with `kind` until the outage ends; token calls too if `includeTokens`. */
export interface Outage {
  readonly kind: Exclude<FaultKind, 'delay'>;
  readonly includeTokens: boolean;
}

export interface QueuedFault {
  readonly match: string;
  readonly kind: FaultKind;
  remaining: number;
  readonly delayMs?: number | undefined;
}

export interface RandomFaults {
  readonly rate: number;
  readonly kinds: readonly FaultKind[];
  readonly match?: string | undefined;
}

const TOKEN_PATH = '/open-apis/auth/';

export class FaultInjector {
  readonly #queued: QueuedFault[] = [];
  #random: RandomFaults | undefined;
  #outage: Outage | undefined;

  constructor(private readonly random: () => number) {}

  queue(fault: { match: string; kind: FaultKind; count: number; delayMs?: number | undefined }): void {
    this.#queued.push({
      match: fault.match,
      kind: fault.kind,
      remaining: fault.count,
      delayMs: fault.delayMs,
    });
  }

  setRandom(faults: RandomFaults | undefined): void {
    this.#random = faults;
  }

  setOutage(outage: Outage | undefined): void {
    this.#outage = outage;
  }

  get outage(): Outage | undefined {
    return this.#outage;
  }

  clear(): void {
    this.#queued.length = 0;
    this.#random = undefined;
    this.#outage = undefined;
  }

  /** The fault for this call, if any. Token endpoints are spared unless a fault names them. */
  next(path: string): { kind: FaultKind; delayMs?: number | undefined } | undefined {
    const outage = this.#outage;
    if (outage && (outage.includeTokens || !path.startsWith(TOKEN_PATH))) return { kind: outage.kind };
    const matches = (match: string | undefined) =>
      (match === undefined || path.includes(match)) &&
      (!path.startsWith(TOKEN_PATH) || match?.includes('auth'));
    const queued = this.#queued.find((f) => f.remaining > 0 && matches(f.match));
    if (queued) {
      queued.remaining--;
      return { kind: queued.kind, delayMs: queued.delayMs };
    }
    const r = this.#random;
    if (r && r.kinds.length > 0 && matches(r.match) && this.random() < r.rate) {
      return { kind: r.kinds[Math.floor(this.random() * r.kinds.length)] as FaultKind, delayMs: 50 };
    }
    return undefined;
  }
}
