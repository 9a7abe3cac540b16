import { describe, expect, it } from 'vitest';
import { approvalCard, escapeMarkdown, stuckJobCard } from '../src/bot/cards.js';
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
  cardPostedAt: null,
  cardDueAt: null,
  cardLockedBy: null,
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
    expect(masked).toContain('189&#42;&#42;&#42;&#42;1111');
    expect(masked).not.toContain('18900001111');
    expect(masked).not.toContain('xxx@abc.vom');
    const full = text(approvalCard(exam('pending_approval'), { showContact: true }));
    expect(full).toContain('18900001111');
  });

  it('a masked phone shorter than a Chinese mobile, or written with spaces, shows no more than two digits', () => {
    for (const [code, number] of [
      ['852', '91234567'],
      ['1', '4155550123'],
      ['852', '9123 4567'],
    ] as const) {
      const candidate = { name: 'x', mobileCode: code, mobileNumber: number };
      const card = approvalCard(exam('pending_approval', { candidate }), { showContact: false });
      const content = texts(card)
        .map((t) => t.content)
        .join('\n');
      const shown = /\*\*电话\*\*: \+\d+ (.*)/.exec(content)?.[1]?.replaceAll('&#42;', '*');
      expect(shown).toMatch(/\*/);
      expect(shown?.replace(/\D/g, '').length).toBeLessThanOrEqual(2);
    }
  });

  it('a full phone without a country code shows no stray "+"', () => {
    const candidate = { name: 'x', mobileNumber: '18900001111' };
    const full = text(approvalCard(exam('pending_approval', { candidate }), { showContact: true }));
    expect(full).toContain(': 18900001111');
    expect(full).not.toContain('+ ');
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
    const arranged = text(approvalCard(exam('arranged'), { showContact: false }));
    // The link's host, never the link itself (it may carry a login) nor the password.
    expect(arranged).toContain('exam.example');
    expect(arranged).not.toContain('https://exam.example/e/1');
    const rejected = text(approvalCard(exam('rejected'), { showContact: false }));
    expect(rejected).toContain('<at id=ou_staff></at>');
    expect(rejected).not.toContain('<at id=all>');
    expect(escapeMarkdown('[x](javascript:1) *b* &copy')).toBe(
      '&#91;x&#93;&#40;javascript:1&#41; &#42;b&#42; &#38;copy',
    );
  });
});

/** Every text object of a card: anything with `content` (markdown, plain_text, summary). */
function texts(node: unknown, out: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> {
  if (Array.isArray(node)) for (const n of node) texts(n, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (typeof o.content === 'string') out.push(o);
    for (const v of Object.values(o)) texts(v, out);
  }
  return out;
}

describe('the card in two languages', () => {
  const states: ExamState[] = ['pending_approval', 'arranging', 'arranged', 'rejected', 'failed'];
  const named = {
    showContact: false,
    customer: { name: '北京星河科技有限公司', state: 'active' as const },
    account: { name: '星河校招账号' },
    paper: { name: 'Sandbox: programming', durationMinutes: 90 },
    platform: 'sandbox',
    now: 1_700_000_000_000 + 45 * 60_000,
  };

  it.each(states)(
    'every text has zh_cn and en_us, Chinese first, and the card declares both locales (%s)',
    (state) => {
      const card = approvalCard(exam(state), named) as {
        config: { locales: string[]; summary: Record<string, unknown> };
        header: { title: Record<string, unknown>; subtitle: Record<string, unknown> };
      };
      expect(card.config.locales).toEqual(['zh_cn', 'en_us']);
      const all = texts(card);
      expect(all.length).toBeGreaterThan(4);
      for (const t of all) {
        const i18n = t.i18n_content as { zh_cn: string; en_us: string };
        expect(i18n.zh_cn, JSON.stringify(t)).toBeTruthy();
        expect(i18n.en_us, JSON.stringify(t)).toBeTruthy();
        expect(t.content).toBe(i18n.zh_cn);
      }
      expect(card.header.title.i18n_content).not.toEqual({
        zh_cn: (card.header.title.i18n_content as { en_us: string }).en_us,
        en_us: (card.header.title.i18n_content as { en_us: string }).en_us,
      });
      expect(card.config.summary.i18n_content).toBeDefined();
    },
  );

  it('names the customer, the account, the paper with its duration and the platform, in each language', () => {
    const card = approvalCard(exam('pending_approval'), named);
    const [facts] = texts(card).filter((t) => t.tag === 'markdown');
    const { zh_cn, en_us } = (facts as { i18n_content: { zh_cn: string; en_us: string } }).i18n_content;
    expect(zh_cn).toContain('**客户**: 北京星河科技有限公司');
    expect(zh_cn).toContain('**账号**: 星河校招账号');
    expect(zh_cn).toContain('**试卷**: Sandbox: programming (90 分钟)');
    expect(zh_cn).toContain('**已等待**: 45 分钟');
    expect(en_us).toContain('**Customer**: 北京星河科技有限公司');
    expect(en_us).toContain('**Paper**: Sandbox: programming (90 min)');
    expect(en_us).toContain('**Exam platform**: sandbox');
    expect(en_us).toContain('**Waiting for**: 45 min');
  });

  it('leaves out what is missing instead of showing "-", and keeps the ids in a collapsed panel', () => {
    const bare = { ...exam('pending_approval'), candidate: {}, accountId: null, paperId: null };
    const card = approvalCard(bare, { showContact: false });
    const body = text(card);
    expect(body).not.toMatch(/\*\*: -/);
    expect(body).not.toContain('**Phone**');
    const panel = (card as { body: { elements: Array<Record<string, unknown>> } }).body.elements.find(
      (e) => e.tag === 'collapsible_panel',
    );
    expect(panel).toMatchObject({ expanded: false });
    expect(text(panel)).toContain('exam_id: 7147998241542539527');
  });

  it('final states say who decided and when; later the score', () => {
    const done = approvalCard(exam('arranged', { result: { score: '87.5' } }), named);
    const body = text(done);
    expect(body).toContain('<at id=ou_staff></at>');
    expect(body).toContain('87.5');
    expect(body).toContain('笔试已完成');
    expect(body).toContain('Exam completed');
  });
});

describe('the stuck-job notice', () => {
  const job = {
    id: 'job-1',
    kind: 'report_login_info',
    examId: '7147998241542539527',
    tenantKey: '2ca1d211f64f6438',
    payload: {},
    idempotencyKey: 'k',
    state: 'dead' as const,
    attempts: 1,
    maxAttempts: 0,
    runAt: 1,
    lockedUntil: null,
    lockedBy: null,
    lastError: 'hire.v1.ecoExam.loginInfo: HTTP 400 code 1002851 (笔试状态异常)',
    createdAt: 1,
    updatedAt: 1,
  };

  it('says in words which step is stuck, in both languages, with a Retry button', () => {
    const card = stuckJobCard(job as never, exam('arranging'));
    const body = text(card);
    expect(body).toContain('把笔试链接告知飞书招聘');
    expect(body).toContain('telling Feishu Hire the exam link');
    expect(body).toContain('"value":{"action":"retry","job_id":"job-1"}');
    expect(body).not.toContain('/admin/jobs');
  });
});

// Outside text on a card (names, masked contacts, reasons) is escaped the way Feishu documents for the markdown
// component: 富文本（Markdown）, 特殊字符转义说明 (card JSON 2.0 and 1.0 pages alike) gives HTML entities (`&#42;`
// for `*`, `&#95;` for `_`, `&#60;` for `<`, …) "才可正常展示", and documents no backslash escape; its FAQ (飞书卡片
// 常见问题 10) says `&reg`, `&copy` are rendered as ® and © unless the `&` is escaped too.
describe('outside text on a card, escaped as Feishu documents', () => {
  /** The card's first markdown element (the facts), in Chinese: what the staff chat shows. */
  const facts = () => {
    const card = approvalCard(
      exam('pending_approval', {
        candidate: {
          name: 'Li_Lei *VIP* &copy',
          mobileCode: '86',
          mobileNumber: '18900001111',
          email: 'x@a.example',
        },
      }),
      { showContact: false },
    ) as { body: { elements: Array<{ content: string }> } };
    return card.body.elements[0]?.content ?? '';
  };

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
