// Every card the gateway can produce is valid Feishu card JSON 2.0 as far as the schema written from Feishu's
// docs (card-2.0.schema.json) says, and within Feishu's limits: 30 KB of JSON and 200 elements. A bad card
// fails here, not in a staff chat.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { approvalCard, stuckJobCard } from '../src/bot/cards.js';
import type { ExamRow, ExamState, JobRow } from '../src/store/index.js';
import { FAILURE_REASON_MAX } from '../src/workflow/exam-lifecycle.js';

const schema = JSON.parse(readFileSync(new URL('./card-2.0.schema.json', import.meta.url), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile(schema);

const MAX_CARD_BYTES = 30 * 1024;
const MAX_ELEMENTS = 200;
/** Text objects are parts of an element, not elements. */
const TEXT_TAGS = new Set(['plain_text', 'lark_md']);

const long = (n: number, unit = '长') => unit.repeat(n);
const exam = (state: ExamState, extra: Partial<ExamRow> = {}): ExamRow => ({
  examId: '7147998241542539527',
  tenantKey: '2ca1d211f64f6438',
  appId: 'cli_1',
  eventId: 'ev',
  accountId: 'acc-1',
  paperId: 'paper001',
  talentId: '6891234567',
  applicationId: '6899876543',
  candidate: { name: '王二', mobileCode: '86', mobileNumber: '18900001111', email: 'xxx@abc.vom' },
  state,
  decidedBy: state === 'pending_approval' ? null : 'ou_staff',
  decidedAt: state === 'pending_approval' ? null : 1_700_000_000_000,
  rejectReason: state === 'rejected' ? 'paper retired' : null,
  arrangement: state === 'arranged' ? { examUrl: 'https://exam.example/e/1' } : null,
  failureReason: state === 'failed' ? 'paper retired' : null,
  cardMessageId: null,
  cardPostedAt: null,
  cardDueAt: null,
  cardLockedBy: null,
  loginInfoReportedAt: null,
  result: null,
  resultReportedAt: null,
  providerId: 'sandbox',
  personalDataErasedAt: null,
  receivedAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  ...extra,
});
const job = (extra: Partial<JobRow> = {}): JobRow => ({
  id: '0190a1b2c3d4e5f6',
  kind: 'report_login_info',
  examId: '7147998241542539527',
  tenantKey: '2ca1d211f64f6438',
  payload: {},
  idempotencyKey: 'k',
  state: 'dead',
  attempts: 3,
  maxAttempts: 0,
  runAt: 1_700_000_000_000,
  lockedUntil: null,
  lockedBy: null,
  lastError: 'Feishu answered 99992402 field validation failed',
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  ...extra,
});

/** The longest values the gateway accepts anywhere on a card (provider limits, Feishu's field sizes). */
const largest: Partial<ExamRow> = {
  examId: long(128, '9'),
  tenantKey: long(128, 't'),
  accountId: long(128, 'a'),
  paperId: long(255, 'p'),
  candidate: {
    name: long(255),
    mobileCode: '86',
    mobileNumber: long(32, '1'),
    email: `${long(200, 'e')}@x.example`,
  },
  // As long as they are kept: a reject reason is cut at the click, a platform's refusal where it is stored.
  rejectReason: long(500),
  failureReason: long(FAILURE_REASON_MAX),
  arrangement: { examUrl: `https://exam.example/${long(2000, 'u')}` },
};

/** The same, every character one the card escapes as a 6-byte entity (`&#124;`): the most bytes per character. */
const largestEscaped: Partial<ExamRow> = {
  ...largest,
  paperId: long(255, '|'),
  candidate: { ...largest.candidate, name: long(255, '|') },
  rejectReason: long(500, '|'),
  failureReason: long(FAILURE_REASON_MAX, '|'),
};

const options = [{ showContact: false }, { showContact: true }];
const cards: Array<[string, Record<string, unknown>]> = [];
for (const o of options) {
  const c = `showContact=${o.showContact}`;
  for (const state of ['pending_approval', 'arranging', 'arranged', 'rejected', 'failed'] as const) {
    cards.push([`approvalCard ${state} ${c}`, approvalCard(exam(state), o)]);
    cards.push([`approvalCard ${state} ${c}, largest values`, approvalCard(exam(state, largest), o)]);
    cards.push([
      `approvalCard ${state} ${c}, largest values, all escaped`,
      approvalCard(exam(state, largestEscaped), o),
    ]);
    cards.push([
      `approvalCard ${state} ${c}, only ids`,
      approvalCard(
        exam(state, {
          accountId: null,
          paperId: null,
          talentId: null,
          applicationId: null,
          candidate: {},
          providerId: null,
          decidedBy: null,
          decidedAt: null,
          rejectReason: null,
          failureReason: null,
          arrangement: null,
        }),
        o,
      ),
    ]);
  }
  cards.push([
    `approvalCard pending_approval with a problem ${c}`,
    approvalCard(exam('pending_approval'), o, 'no exam platform serves paper paper001'),
  ]);
  cards.push([
    `approvalCard arranged with a result ${c}`,
    approvalCard(
      exam('arranged', {
        result: { score: '87.5', reports: [{ name: 'Report', url: 'https://exam.example/r/1' }] },
      }),
      o,
    ),
  ]);
}
// The most a provider may report (PROVIDER_LIMITS: 20 reports, 255-character names, 2048-character URLs).
const largestResult = {
  score: long(64, '9'),
  reports: Array.from({ length: 20 }, (_, i) => ({
    name: long(255, String(i % 10)),
    url: `https://exam.example/${long(2020, 'r')}/${i}`,
  })),
};
for (const o of options)
  cards.push([
    `approvalCard arranged with the largest result showContact=${o.showContact}`,
    approvalCard(exam('arranged', { ...largest, result: largestResult }), o),
  ]);
cards.push(['stuckJobCard with its exam', stuckJobCard(job(), exam('arranging'))]);
cards.push(['stuckJobCard without an exam', stuckJobCard(job({ examId: null }), null)]);
cards.push([
  'stuckJobCard, longest error',
  stuckJobCard(job({ lastError: long(5000) }), exam('arranging', largest)),
]);

function countElements(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + countElements(v), 0);
  if (typeof value !== 'object' || value === null) return 0;
  const self =
    typeof (value as { tag?: unknown }).tag === 'string' && !TEXT_TAGS.has((value as { tag: string }).tag);
  return (self ? 1 : 0) + Object.values(value).reduce((n: number, v) => n + countElements(v), 0);
}

/** What the schema cannot say: named inputs and submit buttons in forms, unique element ids. */
function formProblems(card: unknown): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const walk = (value: unknown, inForm: boolean) => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v, inForm);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const e = value as Record<string, unknown>;
    if (typeof e.element_id === 'string') {
      if (ids.has(e.element_id)) problems.push(`element_id ${e.element_id} is used twice`);
      ids.add(e.element_id);
    }
    if (e.tag === 'form' && inForm) problems.push('a form inside a form');
    if (inForm && (e.tag === 'input' || e.tag === 'button') && !e.name)
      problems.push(`a ${e.tag} in a form without a name (Feishu: 200530)`);
    if (!inForm && e.form_action_type) problems.push('form_action_type outside a form');
    for (const v of Object.values(e)) walk(v, inForm || e.tag === 'form');
  };
  walk(card, false);
  return problems;
}

describe('every card the gateway can produce', () => {
  it.each(cards)('%s: valid card JSON 2.0, ≤ 30 KB, ≤ 200 elements', (_name, card) => {
    const valid = validate(card);
    expect(
      valid ? [] : validate.errors?.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`),
    ).toEqual([]);
    expect(Buffer.byteLength(JSON.stringify(card))).toBeLessThanOrEqual(MAX_CARD_BYTES);
    expect(countElements(card)).toBeLessThanOrEqual(MAX_ELEMENTS);
    expect(formProblems(card)).toEqual([]);
  });
});

describe('the schema', () => {
  const good = approvalCard(exam('pending_approval'), { showContact: false });
  // biome-ignore lint/suspicious/noExplicitAny: each case breaks the card in its own way
  type Loose = Record<string, any>;
  const broken = (mutate: (card: Loose) => void) => {
    const card = structuredClone(good) as Loose;
    mutate(card);
    return validate(card);
  };

  it('accepts a good card and rejects what Feishu rejects', () => {
    expect(validate(good)).toBe(true);
    expect(broken((c) => (c.elements = []))).toBe(false); // JSON 1.0's top level
    expect(broken((c) => (c.config.update_multi = false))).toBe(false);
    expect(broken((c) => (c.body.elements[0].text_colour = 'red'))).toBe(false); // an unknown property
    expect(broken((c) => c.body.elements.push({ tag: 'action', actions: [] }))).toBe(false); // gone in 2.0
    expect(broken((c) => c.body.elements.push({ tag: 'markdown' }))).toBe(false); // no content
    expect(broken((c) => (c.header.title.i18n_content = { klingon: 'x' }))).toBe(false);
    expect(broken((c) => (c.config.locales = ['zh_cn', 'tlh']))).toBe(false);
    expect(
      broken((c) =>
        c.body.elements.push({ tag: 'button', text: { tag: 'plain_text', content: 'x' }, value: {} }),
      ),
    ).toBe(false); // JSON 1.0's button value: 2.0 uses behaviors
    expect(
      broken((c) =>
        c.body.elements.push({
          tag: 'button',
          text: { tag: 'plain_text', content: 'x' },
          behaviors: [{ type: 'callback', value: 'a string' }],
        }),
      ),
    ).toBe(false); // the SDKs take an object value only
  });

  it('accepts the bilingual form the cards are moving to (i18n_content, locales, a localized summary)', () => {
    const bilingual = {
      schema: '2.0',
      config: {
        update_multi: true,
        locales: ['zh_cn', 'en_us'],
        summary: {
          content: '笔试安排待审批',
          i18n_content: { zh_cn: '笔试安排待审批', en_us: 'Exam arrangement pending' },
        },
      },
      header: {
        template: 'blue',
        title: {
          tag: 'plain_text',
          content: '笔试安排审批',
          i18n_content: { zh_cn: '笔试安排审批', en_us: 'Exam approval' },
        },
      },
      body: {
        elements: [
          {
            tag: 'markdown',
            content: '**候选人**：张三',
            i18n_content: { zh_cn: '**候选人**：张三', en_us: '**Candidate**: Zhang San' },
          },
          {
            tag: 'collapsible_panel',
            expanded: false,
            header: {
              title: { tag: 'plain_text', content: '编号', i18n_content: { zh_cn: '编号', en_us: 'Ids' } },
            },
            elements: [{ tag: 'markdown', content: 'exam 1' }],
          },
          {
            tag: 'button',
            type: 'primary',
            text: { tag: 'plain_text', content: '重试', i18n_content: { zh_cn: '重试', en_us: 'Retry' } },
            behaviors: [{ type: 'callback', value: { action: 'retry', job_id: 'j1' } }],
          },
        ],
      },
    };
    expect(validate(bilingual) ? [] : validate.errors).toEqual([]);
  });
});

describe('a result with many reports', () => {
  it('shows the score and leaves the report links to Feishu Hire, so the card stays within 30 KB', () => {
    const text = JSON.stringify(
      approvalCard(exam('arranged', { result: largestResult }), { showContact: false }),
    );
    expect(text).toContain(largestResult.score);
    expect(text).not.toContain('/19)');
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_CARD_BYTES);
  });
});
