import { describe, expect, it } from 'vitest';
import { runProviderConformance } from '../src/conformance.js';
import { createSandboxProvider, sandboxProvider } from '../src/index.js';

const request = {
  examId: '7147998241542539527',
  paperId: 'paper001',
  candidate: { name: '王二', email: 'xxx@abc.vom' },
};

runProviderConformance(sandboxProvider, {
  options: {},
  invalidOptions: [
    { failureRate: 2 },
    { baseUrl: 'ftp://x' },
    { unknownOption: true },
    { papers: [{ id: '', name: 'x' }] },
  ],
  request,
  failures: [
    { name: 'a retired paper', options: { failingPaperIds: ['paper001'] }, retryable: false },
    { name: 'the platform is down', options: { failureRate: 1 }, retryable: true },
  ],
});

describe('sandbox provider', () => {
  it('arranges deterministically per exam id, with the candidate email as username', async () => {
    const a = await createSandboxProvider().createExam(request);
    const b = await createSandboxProvider().createExam({ ...request, examId: 'other' });
    expect(a.username).toBe('xxx@abc.vom');
    expect(a.examUrl).not.toBe(b.examUrl);
    expect(a).toEqual(await createSandboxProvider().createExam(request));
  });

  it('refuses bad options when built directly, saying which', () => {
    expect(() => createSandboxProvider({ failureRate: 5 })).toThrow(/options\.failureRate/);
  });
});
