/** Faults to inject into Open Platform calls: the next N matching calls, or a random share of them. */
export type FaultKind = 'http_500' | 'rate_limit' | 'token_expired' | 'delay';

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

  clear(): void {
    this.#queued.length = 0;
    this.#random = undefined;
  }

  /** The fault for this call, if any. Token endpoints are spared unless a fault names them. */
  next(path: string): { kind: FaultKind; delayMs?: number | undefined } | undefined {
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
