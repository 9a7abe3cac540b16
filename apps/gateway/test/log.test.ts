import { Writable } from 'node:stream';
import { envelopeV2, seal } from '@feishu-exam/event-core';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, lazyChild, REDACTED, redactSecrets } from '../src/log.js';
import { post, secrets, startTestGateway, type TestGateway } from './support.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, log: createLogger({ level: 'debug', destination }) };
}

describe('the redaction net', () => {
  it('replaces a secret-named field at any depth, in any letter case, inside arrays too', () => {
    const clean = redactSecrets({
      a: { b: { c: { Authorization: 'Bearer t-123', keep: 1 } } },
      list: [{ app_secret: 's' }, { fine: 'yes' }],
      candidate: { mobile: '18900001111', email: 'x@abc.vom', phone: '+86 189****1111' },
    });
    expect(clean).toEqual({
      a: { b: { c: { Authorization: REDACTED, keep: 1 } } },
      list: [{ app_secret: REDACTED }, { fine: 'yes' }],
      candidate: { mobile: REDACTED, email: REDACTED, phone: '+86 189****1111' },
    });
  });

  it('returns the very same object when there is nothing to redact, and never changes the original', () => {
    const input = { examId: 'e-1', nested: { outcome: 'created', list: [1, 2, { ok: true }] } };
    expect(redactSecrets(input)).toBe(input);
    const withSecret = { nested: { token: 't' } };
    expect(redactSecrets(withSecret)).toEqual({ nested: { token: REDACTED } });
    expect(withSecret).toEqual({ nested: { token: 't' } });
  });

  it('leaves what is not a plain object or an array alone (a Buffer is not walked byte by byte)', () => {
    const bytes = Buffer.alloc(1024 * 1024);
    const input = { bytes, at: new Date(0) };
    expect(redactSecrets(input)).toBe(input);
  });

  it('stops at a bounded depth on a cycle instead of looping', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    expect(() => redactSecrets(cyclic)).not.toThrow();
  });

  it('keeps secrets out of log lines: in the merged object, in child bindings, and in a logged error', () => {
    const { lines, log } = capture();
    log.info({ request: { headers: { authorization: 'Bearer t-abc' } } }, 'call');
    log.child({ tenant_access_token: 't-def' }).info('child');
    const err = Object.assign(new Error('request failed'), {
      config: { headers: { Authorization: 'Bearer t-ghi' }, data: '{"app_secret":"s"}' },
    });
    log.error({ err }, 'failed');
    const text = JSON.stringify(lines);
    for (const secret of ['t-abc', 't-def', 't-ghi']) expect(text).not.toContain(secret);
    expect(lines[2]).toMatchObject({ err: { type: 'Error', message: 'request failed' } });
    expect(String((lines[2]?.err as { stack?: string } | undefined)?.stack)).toContain('request failed');
  });
});

describe('one line per push', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  it('an accepted push is logged once, by its handler; a refused one by the access log, at info', async () => {
    gw = await startTestGateway({ LOG_LEVEL: 'info' });
    const sealed = seal(
      envelopeV2('hire.eco_exam.created_v1', { exam_id: 'log-1' }, { token: secrets.verificationToken }),
      { encryptKey: secrets.encryptKey },
    );
    expect((await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody)).status).toBe(200);
    expect((await post(`${gw.url}/webhook/event`, {}, '{}')).status).toBe(401);
    const lines = gw.logs();
    expect(lines.filter((l) => l.msg === 'exam received')).toMatchObject([
      { examId: 'log-1', level: 'info' },
    ]);
    expect(lines.filter((l) => l.msg === 'request')).toMatchObject([
      { level: 'info', path: '/webhook/event', status: 401, code: 'bad_signature' },
    ]);
  });

  it('at debug, the access log shows accepted pushes too', async () => {
    gw = await startTestGateway({ LOG_LEVEL: 'debug' });
    const sealed = seal(
      envelopeV2('hire.eco_exam.created_v1', { exam_id: 'log-2' }, { token: secrets.verificationToken }),
      { encryptKey: secrets.encryptKey },
    );
    await post(`${gw.url}/webhook/event`, sealed.headers, sealed.rawBody);
    expect(gw.logs().filter((l) => l.msg === 'request')).toMatchObject([
      { level: 'debug', path: '/webhook/event', status: 200 },
    ]);
  });
});

describe('lazyChild (the logger of a job)', () => {
  it('makes the child only for a line at an enabled level, and writes its bindings then', () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk, _e, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const parent = createLogger({ level: 'info', destination });
    let made = 0;
    const log = lazyChild(parent, () => {
      made++;
      return { jobId: 'j-1', password: 'hunter2' };
    });
    log.debug('not written');
    expect(made).toBe(0);
    log.info({ step: 1 }, 'written');
    log.warn('again');
    expect(made).toBe(1);
    expect(lines.map((l) => [l.msg, l.jobId, l.password])).toEqual([
      ['written', 'j-1', REDACTED],
      ['again', 'j-1', REDACTED],
    ]);
  });
});
