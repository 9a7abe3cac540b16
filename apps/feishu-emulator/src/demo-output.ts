// What the demos print, and how they wait: shared by demo.ts and demo-marketplace.ts.

export const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** A step's heading. */
export const step = (s: string) => console.log(`\n${bold(`▶ ${s}`)}`);

/** One labelled value under a step; labels padded to `width`. */
export const shower =
  (width: number) =>
  (label: string, value: unknown): void =>
    console.log(`  ${label.padEnd(width)} ${typeof value === 'string' ? value : JSON.stringify(value)}`);

/** Polls `check` every 50 ms until it returns a value; the demo fails after `timeoutMs`. */
export async function wait<T>(what: string, check: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`the demo timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
