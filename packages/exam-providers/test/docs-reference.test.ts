import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { httpProviderReference } from '../src/index.js';

/** The doc's reference section is the schema's, verbatim: it cannot drift. UPDATE_DOCS=1 rewrites it. */
const doc = new URL('../../../docs/adding-a-provider.md', import.meta.url);
const START = '<!-- http-reference:start -->\n';
const END = '<!-- http-reference:end -->';

describe('docs/adding-a-provider.md', () => {
  it('holds the http provider’s reference as generated from its schema', () => {
    const text = readFileSync(doc, 'utf8');
    const from = text.indexOf(START) + START.length;
    const to = text.indexOf(END);
    expect(from).toBeGreaterThan(START.length - 1);
    const generated = httpProviderReference();
    if (process.env.UPDATE_DOCS) writeFileSync(doc, text.slice(0, from) + generated + text.slice(to));
    else expect(text.slice(from, to)).toBe(generated);
  });

  it('the reference names every template variable and every response key', () => {
    const reference = httpProviderReference();
    for (const key of [
      'exam.platformExamId',
      'account.fields.<key>',
      'secrets.<ENV_NAME>',
      'createExam.response.platformExamId',
      'fetchResult.response.answerTime',
      'fetchResult.response.details.result',
      'resultWebhook.signature.algorithm',
      'listPapers.response.questionCount',
    ])
      expect(reference).toContain(`\`${key}`);
  });
});
