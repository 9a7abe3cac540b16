import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createProviderRegistry,
  defaultProviderContext,
  defineProvider,
  sandboxProvider,
} from '../src/index.js';

const ctx = defaultProviderContext({});
const echo = defineProvider({
  id: 'echo',
  options: z.object({ host: z.string() }).strict(),
  create: (options, _ctx, id) => ({
    id,
    createExam: async (r) => ({ examUrl: `https://${options.host}/${r.examId}` }),
  }),
});

describe('provider registry', () => {
  it('routes by the account first, then by paper, then to the default', () => {
    const result = createProviderRegistry(
      [sandboxProvider, echo],
      {
        providers: [
          { id: 'sandbox', type: 'sandbox' },
          { id: 'acme', type: 'echo', options: { host: 'acme.example' }, papers: ['acme-1'] },
        ],
        defaultProvider: 'sandbox',
      },
      ctx,
    );
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const { registry } = result;
    expect(registry.route({ accountProviderId: 'acme', paperId: 'paper001' })).toMatchObject({
      ok: true,
      via: 'account',
      provider: { id: 'acme' },
    });
    expect(registry.route({ paperId: 'acme-1' })).toMatchObject({
      ok: true,
      via: 'paper',
      provider: { id: 'acme' },
    });
    expect(registry.route({ paperId: 'elsewhere' })).toMatchObject({
      ok: true,
      via: 'default',
      provider: { id: 'sandbox' },
    });
    expect(registry.route({ accountProviderId: 'gone' })).toEqual({
      ok: false,
      reason: expect.stringMatching(/"gone", which is not configured/),
    });
  });

  it('without a default, an exam nobody serves gets a reason, not an exception', () => {
    const result = createProviderRegistry(
      [echo],
      { providers: [{ id: 'acme', type: 'echo', options: { host: 'h' }, papers: ['p1'] }] },
      ctx,
    );
    expect(result.ok && result.registry.route({ paperId: 'p2' })).toEqual({
      ok: false,
      reason: 'no provider serves paper p2 and no default provider is configured',
    });
  });

  it('reports every configuration mistake at once, each saying what to fix', () => {
    const result = createProviderRegistry(
      [sandboxProvider, echo],
      {
        providers: [
          { id: 'a', type: 'nope' },
          { id: 'b', type: 'echo', options: { host: 1 } },
          { id: 'c', type: 'echo', options: { host: 'h' }, papers: ['p'] },
          { id: 'd', type: 'echo', options: { host: 'h' }, papers: ['p'] },
          { id: 'c', type: 'sandbox' },
        ],
        defaultProvider: 'z',
      },
      ctx,
    );
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    expect(errors).toEqual([
      'provider a: unknown type "nope"; known types: sandbox, echo; a provider of another platform is named with package: "<its npm package>"',
      'provider b (echo): options.host: Invalid input: expected string, received number',
      'paper p is claimed by both c and d; one paper, one provider',
      'provider c: the id is used twice; give each provider its own id',
      'the default provider "z" is not configured; configured: c, d',
    ]);
  });
});
