// docs/feishu-app-setup.md tells an operator which scopes, events and callbacks to turn on. This test reads the
// gateway's source for the Open Platform calls it makes and the events it handles, so the page cannot drift.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src', import.meta.url));
const doc = readFileSync(new URL('../../../docs/feishu-app-setup.md', import.meta.url), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}
const code = sources(src).map((file) => readFileSync(file, 'utf8'));

/** Every `callOpenApi(clients, 'api.name', …)` in the source. */
const calledApis = new Set(
  code.flatMap((text) =>
    [...text.matchAll(/callOpenApi(?:<[^>]*>)?\(\s*[\w.]+,\s*'([\w.]+)'/g)].map((m) => m[1] as string),
  ),
);
/** Every event type the dispatcher handles (`.on('type', …)`), but the catch-all. */
const handledEvents = new Set(
  sources(join(src, 'events')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/\.on\(\s*'([\w.]+)'/g)].map((m) => m[1] as string),
  ),
);
handledEvents.delete('unknown');

/** The first column of the page's table under `heading`, as written in backticks. */
function firstColumn(heading: string): Set<string> {
  const section = doc.split(/^## /m).find((s) => s.startsWith(heading)) ?? '';
  return new Set([...section.matchAll(/^\| `([\w.]+)` \|/gm)].map((m) => m[1] as string));
}

describe('docs/feishu-app-setup.md', () => {
  it('lists a scope for exactly the Open Platform APIs the gateway calls', () => {
    expect(calledApis.size).toBeGreaterThan(5);
    expect([...firstColumn('3. Scopes')].sort()).toEqual([...calledApis].sort());
  });

  it('lists exactly the events the gateway handles, and the card callback', () => {
    const events = firstColumn('4. Events');
    handledEvents.delete('card.action.trigger');
    expect([...events].sort()).toEqual([...handledEvents].sort());
    expect(doc).toContain('`card.action.trigger`');
  });
});
