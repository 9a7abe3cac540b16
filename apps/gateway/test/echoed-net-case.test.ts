// The log's net matches the configured secrets in any letter case, its quick look before the pattern too.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';

describe('echoed back: a configured secret in another letter case', () => {
  it('is written out of the line in any letter case', async () => {
    const SECRET = 'app-secret-Zq9w8e7r6t5y4u3i';
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _e, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger({ level: 'info', destination, secrets: [SECRET] });
    log.warn({ reason: `signature check with ${SECRET.toUpperCase()} failed` }, 'x');
    log.warn({ reason: `signature check with ${SECRET} failed` }, 'y');
    expect(lines[1]).not.toContain(SECRET); // the same case: replaced
    expect(lines[0]).not.toContain(SECRET.toUpperCase());
  });
});
