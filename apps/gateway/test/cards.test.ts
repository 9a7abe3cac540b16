import { describe, expect, it } from 'vitest';
import { approvalCard, escapeMarkdown } from '../src/bot/cards.js';
import type { ExamRow, ExamState } from '../src/store/index.js';

const exam = (state: ExamState, extra: Partial<ExamRow> = {}): ExamRow => ({
  examId: '7147998241542539527',
  tenantKey: '2ca1d211f64f6438',
  appId: 'cli_1',
  eventId: 'ev',
  accountId: 'acc-1',
  paperId: 'paper001',
  talentId: null,
  applicationId: null,
  candidate: { name: '王二 *bold*', mobileCode: '86', mobileNumber: '18900001111', email: 'xxx@abc.vom' },
  state,
  decidedBy: state === 'pending_approval' ? null : 'ou_staff',
  decidedAt: state === 'pending_approval' ? null : 1_700_000_000_000,
  rejectReason: state === 'rejected' ? 'wrong <at id=all></at> paper' : null,
  arrangement: state === 'arranged' ? { examUrl: 'https://exam.example/e/1' } : null,
  failureReason: state === 'failed' ? 'paper retired' : null,
  cardMessageId: null,
  loginInfoReportedAt: null,
  result: null,
  resultReportedAt: null,
  providerId: null,
  personalDataErasedAt: null,
  receivedAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  ...extra,
});

const text = (card: unknown) => JSON.stringify(card);

describe('approvalCard', () => {
  const states: ExamState[] = ['pending_approval', 'arranging', 'arranged', 'rejected', 'failed'];

  it.each(states)('is a card JSON 2.0 with update_multi and only documented top-level keys (%s)', (state) => {
    const card = approvalCard(exam(state), { showContact: false });
    expect(Object.keys(card).sort()).toEqual(['body', 'config', 'header', 'schema']);
    expect(card).toMatchObject({
      schema: '2.0',
      config: { update_multi: true },
      body: { elements: expect.any(Array) },
    });
  });

  it('masks phone and email unless configured otherwise', () => {
    const masked = text(approvalCard(exam('pending_approval'), { showContact: false }));
    expect(masked).toContain('189\\\\*\\\\*\\\\*\\\\*1111');
    expect(masked).not.toContain('18900001111');
    expect(masked).not.toContain('xxx@abc.vom');
    const full = text(approvalCard(exam('pending_approval'), { showContact: true }));
    expect(full).toContain('18900001111');
  });

  it('offers Approve and Reject (with a reason input) only while pending', () => {
    const pending = text(approvalCard(exam('pending_approval'), { showContact: false }));
    expect(pending).toContain('"value":{"action":"approve","exam_id":"7147998241542539527"}');
    expect(pending).toContain('"value":{"action":"reject","exam_id":"7147998241542539527"}');
    expect(pending).toContain('"name":"reason"');
    for (const state of states.filter((s) => s !== 'pending_approval')) {
      expect(text(approvalCard(exam(state), { showContact: false }))).not.toContain('"tag":"button"');
    }
  });

  it('says who decided, the link, or the reason, and cannot be tricked by markdown in outside text', () => {
    expect(text(approvalCard(exam('arranged'), { showContact: false }))).toContain(
      'https://exam.example/e/1',
    );
    const rejected = text(approvalCard(exam('rejected'), { showContact: false }));
    expect(rejected).toContain('<at id=ou_staff></at>');
    expect(rejected).not.toContain('<at id=all>');
    expect(escapeMarkdown('[x](javascript:1) *b*')).toBe('\\[x\\]\\(javascript:1\\) \\*b\\*');
  });
});
