import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type ConformanceFixtures,
  conformanceChecks,
  defineProvider,
  type ExamProvider,
} from '../src/index.js';

/** The kit must catch what it claims to: each broken provider fails exactly the check named for it. */
const request = { examId: 'kit-1', paperId: 'p1', candidate: { name: 'n' } };
const base: ExamProvider = {
  id: 'broken',
  createExam: async (r) => ({ examUrl: `https://x.example/${r.examId}`, platformExamId: `pl-${r.examId}` }),
};
const factoryOf = (provider: ExamProvider) =>
  defineProvider({ id: 'broken', options: z.object({}).strict(), create: () => provider });

async function failuresOf(provider: ExamProvider, fixtures: Partial<ConformanceFixtures> = {}) {
  const failed: Array<{ name: string; message: string }> = [];
  for (const check of conformanceChecks(factoryOf(provider), {
    options: {},
    invalidOptions: [],
    request,
    ...fixtures,
  }))
    await check
      .run()
      .catch((e: Error) => failed.push({ name: check.name.split(':')[0] ?? '', message: e.message }));
  return failed;
}

describe('the conformance checks', () => {
  it('pass a provider that keeps the contract', async () => {
    expect(await failuresOf(base)).toEqual([]);
  });

  it('fetchResult: a result for an exam nobody finished is caught', async () => {
    const eager = { ...base, fetchResult: async () => ({ score: '1' }) };
    expect(
      await failuresOf(eager, {
        results: { ref: (a) => ({ examId: 'kit-1', platformExamId: a.platformExamId }) },
      }),
    ).toEqual([
      { name: 'fetchResult', message: expect.stringMatching(/a result for an exam nobody finished/) },
    ]);
  });

  it('parseResultWebhook: a provider that does not check the signature is caught', async () => {
    const credulous = {
      ...base,
      parseResultWebhook: async () => [{ examId: 'kit-1', result: { score: '1' } }],
    };
    const webhook = { headers: { 'x-signature': 'abc' }, rawBody: Buffer.from('{}') };
    expect(await failuresOf(credulous, { results: { webhook } })).toEqual([
      {
        name: 'parseResultWebhook',
        message: expect.stringMatching(/signature does not match its body was accepted/),
      },
    ]);
  });

  it('listPapers: a second page not followed, or an id twice, is caught', async () => {
    const firstPageOnly = { ...base, listPapers: async () => [{ id: 'a', name: 'A' }] };
    expect(await failuresOf(firstPageOnly, { papers: { total: 3 } })).toEqual([
      { name: 'listPapers', message: 'listPapers gave 1 papers of 3: are later pages followed?' },
    ]);
    const twice = {
      ...base,
      listPapers: async () => [
        { id: 'a', name: 'A' },
        { id: 'a', name: 'B' },
      ],
    };
    expect(await failuresOf(twice)).toEqual([
      {
        name: 'listPapers',
        message: "the exam platform's list of papers is refused: papers[1].id: paper id a is given twice",
      },
    ]);
  });

  it('accountFields: a key Feishu cannot keep, or a field without a name, is caught', async () => {
    const badKey = { ...base, accountFields: [{ key: 'org code', name: { en_us: 'Org' }, required: true }] };
    expect(await failuresOf(badKey)).toEqual([
      { name: 'accountFields', message: expect.stringMatching(/"org code" must be 1 to 64 letters/) },
    ]);
    const nameless = { ...base, accountFields: [{ key: 'org', name: {}, required: true }] };
    expect(await failuresOf(nameless)).toEqual([
      { name: 'accountFields', message: expect.stringMatching(/needs a name/) },
    ]);
  });

  it('idempotency: a second exam for the same id is caught', async () => {
    let n = 0;
    const forgetful = { ...base, createExam: async () => ({ examUrl: `https://x.example/${++n}` }) };
    expect(await failuresOf(forgetful)).toEqual([
      { name: 'is idempotent for one exam id', message: expect.stringMatching(/a second exam was made/) },
    ]);
  });
});
