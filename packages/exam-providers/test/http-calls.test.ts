// Audit of the config-declared HTTP provider's calls: each test failed on the code before its fix.
import { describe, expect, it } from 'vitest';
import { httpProvider } from '../src/index.js';

const options = {
  baseUrl: 'https://lc.example',
  createExam: { path: '/sittings', response: { examUrl: '$.url' } },
  fetchResult: { path: '/sittings/{{exam.id}}', response: { score: '$.total' } },
};
const request = { examId: 'exam-1', candidate: { name: 'n' } };

function providerAnswering(answer: () => Response) {
  const built = httpProvider.build(options, {
    fetch: async () => answer(),
    now: Date.now,
    secret: () => undefined,
  });
  if (!built.ok) throw new Error(built.errors.join('\n'));
  return built.provider;
}

/** A 200 whose body breaks off midway (the connection drops, or the call's timeout fires while reading). */
const brokenBody = (error: Error) =>
  new Response(
    new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"url":"https://lc.exa'));
        controller.error(error);
      },
    }),
    { status: 200 },
  );

describe('an answer whose body breaks off', () => {
  it('is a retryable ProviderError, as when no answer came at all', async () => {
    for (const error of [
      new TypeError('terminated'),
      new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
    ]) {
      const provider = providerAnswering(() => brokenBody(error));
      await expect(provider.createExam(request)).rejects.toMatchObject({
        name: 'ProviderError',
        retryable: true,
      });
      await expect(provider.fetchResult?.({ examId: 'exam-1' })).rejects.toMatchObject({
        name: 'ProviderError',
        retryable: true,
      });
    }
  });
});

describe('createExam: the login an exam platform answers with', () => {
  it('an empty username, password or platform id is none (a link-only exam), not an arrangement refused for good', async () => {
    const built = httpProvider.build(
      {
        ...options,
        createExam: {
          path: '/sittings',
          response: { examUrl: '$.url', username: '$.login', password: '$.pass', platformExamId: '$.id' },
        },
      },
      {
        fetch: async () => Response.json({ url: 'https://lc.example/take/1', login: '', pass: '', id: null }),
        now: Date.now,
        secret: () => undefined,
      },
    );
    if (!built.ok) throw new Error(built.errors.join('\n'));
    const arrangement = await built.provider.createExam(request);
    expect(arrangement).toEqual({ examUrl: 'https://lc.example/take/1' });
  });
});

describe('fetchResult: values that are not text', () => {
  it('a score or detail that is an object or a list is refused (invalid_answer), never sent as "[object Object]"', async () => {
    for (const answer of [
      { total: { value: 88 } },
      { total: [88] },
      { total: 88, sections: [{ name: 'SQL', pct: { value: 9 } }] },
    ]) {
      const built = httpProvider.build(
        {
          ...options,
          fetchResult: {
            path: '/sittings/{{exam.id}}',
            response: { score: '$.total', details: { items: '$.sections', name: '$.name', result: '$.pct' } },
          },
        },
        { fetch: async () => Response.json(answer), now: Date.now, secret: () => undefined },
      );
      if (!built.ok) throw new Error(built.errors.join('\n'));
      await expect(built.provider.fetchResult?.({ examId: 'exam-1' })).rejects.toMatchObject({
        name: 'ProviderError',
        retryable: false,
        code: 'invalid_answer',
        message: expect.stringMatching(/\$\.(total|pct).*not text/),
      });
    }
  });
});

describe('an answer larger than any exam platform sends', () => {
  it('is refused once it passes 10 MB, without being read to its end', async () => {
    let pulled = 0;
    const endless = () =>
      new Response(
        new ReadableStream({
          pull(controller) {
            pulled += 1;
            if (pulled > 40) controller.close();
            else controller.enqueue(new Uint8Array(1024 * 1024).fill(0x20));
          },
        }),
        { status: 200 },
      );
    const provider = providerAnswering(endless);
    await expect(provider.fetchResult?.({ examId: 'exam-1' })).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: false,
      message: expect.stringMatching(/more than/),
    });
    expect(pulled).toBeLessThan(40);
  });
});

describe('createExam.existing: the exam arranged before, when the platform says its id exists', () => {
  /** A platform that arranged exam-1 on an earlier call (whose answer was lost) and refuses a second one. */
  const calls: string[] = [];
  const platform = async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    calls.push(`${init?.method ?? 'GET'} ${url.pathname}${url.search}`);
    if (init?.method === 'POST') return Response.json({ error: 'reference exists' }, { status: 409 });
    if (url.searchParams.get('reference') === 'exam-1')
      return Response.json({ items: [{ link: 'https://lc.example/s/77', sitting: '77' }] });
    return Response.json({ items: [] });
  };
  const build = (existing: unknown) => {
    calls.length = 0;
    const built = httpProvider.build(
      {
        ...options,
        createExam: {
          path: '/sittings',
          body: { reference: '{{exam.id}}' },
          response: { examUrl: '$.url', platformExamId: '$.id' },
          ...(existing === undefined ? {} : { existing }),
        },
      },
      { fetch: platform, now: Date.now, secret: () => undefined },
    );
    if (!built.ok) throw new Error(built.errors.join('\n'));
    return built.provider;
  };

  it('reads the arrangement from the lookup it declares, with its own mapping', async () => {
    const provider = build({
      path: '/sittings?reference={{exam.id}}',
      response: { examUrl: '$.items[0].link', platformExamId: '$.items[0].sitting' },
    });
    expect(await provider.createExam({ ...request, retry: true })).toEqual({
      examUrl: 'https://lc.example/s/77',
      username: undefined,
      password: undefined,
      platformExamId: '77',
    });
    expect(calls).toEqual(['POST /sittings', 'GET /sittings?reference=exam-1']);
  });

  it('without it, or for a status it does not name, the refusal fails the exam for good, with no lookup', async () => {
    await expect(build(undefined).createExam(request)).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: false,
      message: 'the exam platform answered HTTP 409',
    });
    expect(calls).toEqual(['POST /sittings']);
    await expect(
      build({ on: [422], path: '/sittings?reference={{exam.id}}' }).createExam(request),
    ).rejects.toMatchObject({ retryable: false, message: 'the exam platform answered HTTP 409' });
    expect(calls).toEqual(['POST /sittings']);
  });

  it('a lookup that finds no exam URL fails the exam, naming where it looked', async () => {
    const provider = build({
      path: '/sittings?reference={{exam.id}}',
      response: { examUrl: '$.items[0].link' },
    });
    await expect(provider.createExam({ ...request, examId: 'exam-2' })).rejects.toMatchObject({
      retryable: false,
      message: "the exam platform's answer has no exam URL at $.items[0].link",
    });
    expect(calls).toEqual(['POST /sittings', 'GET /sittings?reference=exam-2']);
  });

  it('is checked like every request: a status that is not a refusal, a template reading what it may not', () => {
    const problems = (existing: unknown) => {
      const built = httpProvider.build(
        { ...options, createExam: { path: '/sittings', response: { examUrl: '$.url' }, existing } },
        { fetch: platform, now: Date.now, secret: () => undefined },
      );
      return built.ok ? '' : built.errors.join('\n');
    };
    expect(problems({ on: [200], path: '/sittings' })).toMatch(/createExam\.existing\.on\.0: Too small/);
    expect(problems({ path: '/sittings?reference={{result.score}}' })).toMatch(/createExam\.existing\.path/);
    expect(problems({ path: '/sittings?reference={{exam.id}}' })).toBe('');
  });
});
