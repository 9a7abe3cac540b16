import { Writable } from 'node:stream';
import { envelopeV2, seal } from '@feishu-exam/event-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createLogger,
  keepOutOfLog,
  LOG_CHUNK_BYTES,
  LOG_FLUSH_MS,
  lazyChild,
  lineDestination,
  REDACTED,
  redactSecrets,
  written,
} from '../src/log.js';
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

  it('an accepted push is logged once, by its handler; a refused one by the access log, at warn', async () => {
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
      { level: 'warn', path: '/webhook/event', status: 401, code: 'bad_signature' },
    ]);
  });

  it('a refused push is one line, as the README says (the access line), not a warning beside it', async () => {
    gw = await startTestGateway({ LOG_LEVEL: 'info' });
    const before = gw.logs().length;
    expect((await post(`${gw.url}/webhook/event`, {}, '{}')).status).toBe(401);
    const lines = gw
      .logs()
      .slice(before)
      .filter((l) => l.component !== 'outbox');
    expect(lines).toMatchObject([
      { msg: 'request', level: 'warn', path: '/webhook/event', status: 401, code: 'bad_signature' },
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

describe('secrets and personal data inside text (messages, error messages, foreign answers)', () => {
  function captureWith(secretValues: string[]) {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk, _e, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    return { lines, log: createLogger({ level: 'trace', destination, secrets: secretValues }) };
  }

  it('scrubs a foreign answer echoing the request: a bearer token, JSON secret fields, a query ticket', () => {
    const { lines, log } = captureWith([]);
    const echoed =
      'HTTP 400 code 99992402 (bad request: Bearer t-e77e6b9979db95ad839e52ede5b0d252f82e1a59 ' +
      '{"app_id":"cli_1","app_secret":"s3cr3t-value","app_ticket":"tk-123456"} {\\"password\\":\\"pw-98765\\"}  {"AppSecret":"ws-secret-value"} ' +
      'wss://x/ws?ticket=tick-abcdef&access_key=ak-abcdef)';
    log.warn({ error: echoed, list: [echoed] }, `job failed: ${echoed}`);
    const text = JSON.stringify(lines);
    for (const secret of [
      't-e77e6b9979',
      's3cr3t-value',
      'tk-123456',
      'pw-98765',
      'tick-abcdef',
      'ak-abcdef',
      'ws-secret-value',
    ])
      expect(text).not.toContain(secret);
    // What is not secret stays readable.
    expect(lines[0]?.error).toContain('HTTP 400 code 99992402');
    expect(lines[0]?.error).toContain('"app_id":"cli_1"');
    // Masked already (the long connection's URL): left as it is.
    log.debug('wss://x/ws?device_id=d1&access_key=***&ticket=***');
    expect(lines[1]?.msg).toBe('wss://x/ws?device_id=d1&access_key=***&ticket=***');
  });

  it('finds each shape of secret alone in a string, with no other character around it to give it away', () => {
    const { lines, log } = captureWith([]);
    // Each text, and the part of it that must not reach the line.
    const shapes: Array<[text: string, secret: string]> = [
      ['u-.g1044ab9c8d7e6f5a4b3c2d1e', 'g1044ab9c8d7e6f5a4b3c2d1e'],
      ['{"token" : "tok-value-1"}', 'tok-value-1'],
      ['ticket=tick-value-2', 'tick-value-2'],
      ['Bearer bearer-value-3', 'bearer-value-3'],
      ['li.si@example.cn', 'li.si@'],
      ['13800138000', '13800138000'],
    ];
    log.warn({ texts: shapes.map(([text]) => text) }, 'shapes');
    const logged = JSON.stringify(lines);
    expect(shapes.filter(([, secret]) => logged.includes(secret))).toEqual([]);
  });

  it("masks a candidate's email and mobile number found in any text, and leaves masked ones and ids alone", () => {
    const { lines, log } = captureWith([]);
    const message = 'candidate wang.er@example.com (+86 18900001111, 18911112222) already invited';
    log.warn({ reason: message, examId: '7147998241542539527', at: 1796149810571 }, message);
    log.info({ phone: '+86 189****1111', emailMasked: 'w***@example.com' }, 'exam received');
    const text = JSON.stringify(lines);
    for (const value of ['wang.er@', '18900001111', '18911112222']) expect(text).not.toContain(value);
    expect(lines[0]).toMatchObject({ examId: '7147998241542539527', at: 1796149810571 });
    expect(lines[0]?.reason).toContain('w***@example.com');
    expect(lines[0]?.reason).toContain('189****1111');
    expect(lines[1]).toMatchObject({ phone: '+86 189****1111', emailMasked: 'w***@example.com' });
  });

  it('replaces the configured secret values wherever they appear, whatever surrounds them', () => {
    const { lines, log } = captureWith(['AppSecretValue-123', 'hr-api-key-0123456789']);
    log.error(
      { error: 'refused: key hr-api-key-0123456789 is not valid', nested: { note: 'xAppSecretValue-123x' } },
      'getting a token with AppSecretValue-123 failed',
    );
    const text = JSON.stringify(lines);
    expect(text).not.toContain('AppSecretValue-123');
    expect(text).not.toContain('hr-api-key-0123456789');
  });

  it('replaces a configured secret value in any letter case (the quick look before the pattern too)', () => {
    const secret = 'app-secret-Zq9w8e7r6t5y4u3i';
    const { lines, log } = captureWith([secret]);
    log.warn({ reason: `signature check with ${secret.toUpperCase()} failed` }, 'x');
    expect(JSON.stringify(lines)).not.toContain(secret.toUpperCase());
    expect(lines[0]?.reason).toBe(`signature check with ${REDACTED} failed`);
  });

  it('writes out a secret learnt after the start (keepOutOfLog), from children made before too', () => {
    const { lines, log } = captureWith([]);
    const job = log.child({ component: 'outbox' });
    log.warn('login as vendor failed with pass quizly-pin-2718281828');
    keepOutOfLog(log, 'quizly-pin-2718281828');
    log.warn('login as vendor failed with pass quizly-pin-2718281828');
    job.error({ reason: 'pass quizly-pin-2718281828 refused' }, 'arrange failed');
    expect(lines[0]?.msg).toContain('quizly-pin-2718281828');
    expect(JSON.stringify(lines.slice(1))).not.toContain('quizly-pin-2718281828');
    expect(lines[1]?.msg).toBe(`login as vendor failed with pass ${REDACTED}`);
    expect(lines[2]?.reason).toBe(`pass ${REDACTED} refused`);
  });

  it("keeps only an error's own plain facts: no request config, headers object, body or query parameters", () => {
    const { lines, log } = captureWith([]);
    // axios's AxiosHeaders: a class instance with toJSON, which the key walk does not enter.
    class HeadersLike {
      Authorization = 'Bearer t-0123456789abcdef0123456789';
      toJSON() {
        return { Authorization: this.Authorization };
      }
    }
    const axiosLike = Object.assign(new Error('Request failed with status code 400'), {
      code: 'ERR_BAD_REQUEST',
      status: 400,
      config: { headers: new HeadersLike(), data: '{"app_secret":"s"}' },
      response: { status: 400, data: { msg: 'x' } },
    });
    // TypeORM's QueryFailedError: the statement's parameters are the row's values.
    const queryFailed = Object.assign(new Error('SQLITE_CONSTRAINT: UNIQUE constraint failed'), {
      query: 'INSERT INTO "exam"("email", "mobile") VALUES (?, ?)',
      parameters: ['candidate@example.com', '+86 18900001111', 'exam-password-xyz'],
      driverError: { code: 'SQLITE_CONSTRAINT', detail: 'Key (email)=(candidate@example.com)' },
    });
    log.error({ err: axiosLike }, 'axios failed');
    log.error({ err: queryFailed }, 'query failed');
    const text = JSON.stringify(lines);
    for (const secret of ['t-0123456789abcdef', 'candidate@example.com', '18900001111', 'exam-password-xyz'])
      expect(text).not.toContain(secret);
    expect(lines[0]?.err).toMatchObject({ type: 'Error', code: 'ERR_BAD_REQUEST', status: 400 });
    expect(lines[1]?.err).toMatchObject({ query: 'INSERT INTO "exam"("email", "mobile") VALUES (?, ?)' });
  });
});

describe('where the lines go (lineDestination)', () => {
  /** A log file in a folder of its own, and the writes handed to the thread pool (sonic-boom calls fs.write). */
  async function logFile() {
    const fs = await import('node:fs');
    const { mkdtempSync, openSync, readFileSync } = fs;
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const file = join(mkdtempSync(join(tmpdir(), 'log-destination-')), 'gateway.log');
    const fd = openSync(file, 'w');
    const writes = vi.spyOn(fs.default, 'write');
    const destination = lineDestination(fd);
    await new Promise((ready) => destination.once('ready', ready));
    return { destination, writes, read: () => readFileSync(file, 'utf8') };
  }

  afterEach(() => vi.restoreAllMocks());

  it('hands lines to the thread pool in chunks of LOG_CHUNK_BYTES, not one write per line', async () => {
    const { destination, writes, read } = await logFile();
    const log = createLogger({ level: 'info', destination });
    const before = writes.mock.calls.length;
    let lines = 0;
    // Lines of at most 200 bytes: these stay below the chunk.
    while (lines * 200 < LOG_CHUNK_BYTES - 200) {
      log.info({ examId: `exam-${lines}` }, 'exam received');
      lines++;
    }
    // Below the chunk: nothing handed over yet (a write per line woke a pool thread per line).
    expect(writes.mock.calls.length).toBe(before);
    // Lines of at least 80 bytes: these take the buffer past the chunk.
    const more = Math.ceil(LOG_CHUNK_BYTES / 80);
    for (let i = 0; i < more; i++) log.info({ examId: `more-${i}` }, 'exam received');
    // Past the chunk: one write carries every line so far.
    expect(writes.mock.calls.length).toBe(before + 1);
    await new Promise((drained) => destination.once('drain', drained));
    expect(read().split('\n').filter(Boolean).length).toBeGreaterThan(lines);
    destination.flushSync();
    expect(read().split('\n').filter(Boolean)).toHaveLength(lines + more);
    destination.end();
  });

  it('writes a lone line soon (a quiet gateway keeps nothing back), and then writes nothing while idle', async () => {
    const { destination, writes, read } = await logFile();
    const log = createLogger({ level: 'info', destination });
    log.warn({ code: 'x' }, 'a lone line');
    const deadline = Date.now() + 5_000;
    while (!read().includes('a lone line') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, LOG_FLUSH_MS));
    expect(read()).toContain('a lone line');
    // Idle: no timer writes empty chunks (sonic-boom's periodicFlush would, every period).
    const written = writes.mock.calls.length;
    await new Promise((r) => setTimeout(r, 5 * LOG_FLUSH_MS));
    expect(writes.mock.calls.length).toBe(written);
    destination.end();
  });

  it('written() resolves once every line taken is on the file, a chunk under way and what came after it', async () => {
    const { destination, writes, read } = await logFile();
    const log = createLogger({ level: 'info', destination });
    let lines = 0;
    const before = writes.mock.calls.length;
    // Past a chunk: a write is under way…
    while (writes.mock.calls.length === before) log.info({ examId: `exam-${lines++}` }, 'exam received');
    // …and these wait behind it, less than a chunk: the drain after that write leaves them buffered.
    for (let i = 0; i < 5; i++) log.info({ examId: `after-${i}` }, 'exam received');
    log.info('stopped');
    await written(destination, 5_000);
    const inFile = read().split('\n').filter(Boolean);
    expect(inFile).toHaveLength(lines + 6);
    expect(JSON.parse(inFile.at(-1) as string)).toMatchObject({ msg: 'stopped' });
    destination.end();
  });

  it('writes every line whole and in order, whatever its length and alphabet, across chunk boundaries', async () => {
    const { destination, read } = await logFile();
    const log = createLogger({ level: 'info', destination });
    const sent: string[] = [];
    const say = (text: string) => {
      sent.push(text);
      log.info({ n: sent.length }, text);
    };
    // Three bytes of UTF-8 per character: a chunk holds fewer of these lines than their length suggests.
    for (let i = 0; i < 400; i++) say(`候选人${'考'.repeat(i % 97)}-${i}`);
    // Longer than any chunk (a huge error stack), in characters or only in bytes, between lines that fill
    // chunks on either side.
    say(`栈${'帧'.repeat(3 * LOG_CHUNK_BYTES)}`);
    say(`栈${'帧'.repeat(LOG_CHUNK_BYTES)}`);
    for (let i = 0; i < 400; i++) say(`exam-${'x'.repeat(i % 211)}-${i}`);
    await written(destination, 5_000);
    const inFile = read()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { n: number; msg: string });
    expect(inFile.map((line) => line.msg)).toEqual(sent);
    expect(inFile.map((line) => line.n)).toEqual(sent.map((_, i) => i + 1));
    destination.end();
  });

  it('flushSync writes what is buffered at once (what the gateway does on exit)', async () => {
    const { destination, read } = await logFile();
    const log = createLogger({ level: 'info', destination });
    log.info('the last line before exit');
    destination.flushSync();
    expect(read()).toContain('the last line before exit');
    destination.end();
  });
});
