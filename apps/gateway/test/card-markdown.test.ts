// Outside text on a card (names, masked contacts, reasons) is escaped the way Feishu documents for the
// markdown component: 富文本（Markdown）, 特殊字符转义说明 (card JSON 2.0 and 1.0 pages alike) gives HTML entities
// (`&#42;` for `*`, `&#95;` for `_`, `&#60;` for `<`, …) "才可正常展示", and documents no backslash escape; its
// FAQ (飞书卡片 常见问题 10) says `&reg`, `&copy` are rendered as ® and © unless the `&` is escaped too.
import { describe, expect, it } from 'vitest';
import { approvalCard } from '../src/bot/cards.js';
import type { ExamRow } from '../src/store/index.js';

const exam: ExamRow = {
  examId: '7147998241542539527',
  tenantKey: '2ca1d211f64f6438',
  appId: 'cli_1',
  eventId: 'ev',
  accountId: 'acc_1',
  paperId: 'paper001',
  talentId: null,
  applicationId: null,
  candidate: {
    name: 'Li_Lei *VIP* &copy',
    mobileCode: '86',
    mobileNumber: '18900001111',
    email: 'x@a.example',
  },
  state: 'pending_approval',
  decidedBy: null,
  decidedAt: null,
  rejectReason: null,
  arrangement: null,
  failureReason: null,
  cardMessageId: null,
  cardPostedAt: null,
  loginInfoReportedAt: null,
  result: null,
  resultReportedAt: null,
  providerId: null,
  personalDataErasedAt: null,
  receivedAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
};

/** The card's first markdown element (the facts), in Chinese: what the staff chat shows. */
const facts = () => {
  const card = approvalCard(exam, { showContact: false }) as {
    body: { elements: Array<{ content: string }> };
  };
  return card.body.elements[0]?.content ?? '';
};

describe('outside text on a card, escaped as Feishu documents', () => {
  it('uses HTML entities, not backslashes, for markdown characters in names and masked contacts', () => {
    const content = facts();
    // The masked phone and email, and the candidate's name.
    expect(content).not.toMatch(/\\[*_]/);
    expect(content).toContain('189&#42;&#42;&#42;&#42;1111');
    expect(content).toContain('Li&#95;Lei &#42;VIP&#42;');
  });

  it('escapes `&`, so that text such as "&copy" is not rendered as ©', () => {
    expect(facts()).toContain('&#38;copy');
  });
});
