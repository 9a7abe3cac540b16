// bot: the approval card (Feishu card JSON 2.0) for each state of an exam, and the stuck-job notice. Every
// text is in Chinese and English (i18n/); names come before ids, and ids wait in a collapsed panel.
import { maskEmail, maskPhone } from '../log.js';
import type { ExamRow, JobRow, TenantState } from '../store/index.js';
import { type Bilingual, bilingual, type Catalogue, LOCALES } from './i18n/index.js';

export interface CardOptions {
  /** Show the candidate's full phone and email on the card (the staff chat must be allowed to see them). */
  readonly showContact: boolean;
  /** Marketplace: which customer the exam is for, by name, and whether it still runs the app. */
  readonly customer?: CustomerLabel | undefined;
  /** The customer's bound account, by its name in Feishu Hire. */
  readonly account?: { readonly name: string | null } | undefined;
  /** The paper, as the platform names it. */
  readonly paper?: { readonly name: string; readonly durationMinutes?: number | undefined } | undefined;
  /** The exam platform (provider id) the exam goes to. */
  readonly platform?: string | undefined;
  /** When the card is drawn (epoch ms): how long a pending exam has waited. */
  readonly now?: number | undefined;
}

export interface CustomerLabel {
  /** The company name from tenant.v2.tenant.query; null while unknown. */
  readonly name: string | null;
  readonly state: TenantState;
}

export type CardAction = 'approve' | 'reject';
/** The value a decision button sends back in card.action.trigger. */
export interface ButtonValue {
  readonly action: CardAction;
  readonly exam_id: string;
}
/** The value the stuck-job notice's Retry button sends back. */
export interface RetryValue {
  readonly action: 'retry';
  readonly job_id: string;
}

type Card = Record<string, unknown>;
type Text = (c: Catalogue) => string;

const plainText = (text: Text) => ({ tag: 'plain_text', ...bilingual(text) });
const markdown = (text: Text) => ({ tag: 'markdown', ...bilingual(text) });

/**
 * Text from outside (names, reasons) must not become markdown, links or mentions. Feishu's markdown component
 * documents HTML entities for this (富文本（Markdown）, 特殊字符转义说明: `&#42;` for `*`, …), not backslashes;
 * `&` is escaped too, or "&copy" would show as © (飞书卡片 常见问题 10).
 */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_~[\]()<>#|&]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * How much of a reject or failure reason a card shows (the whole is kept, listed at /admin/exams and sent to
 * Feishu Hire). Escaped, a character may take 6 bytes (`&#124;`) in each of the card's languages, and Feishu
 * refuses a card over 30 KB: a platform's 2,000-character refusal of such characters made a 48 KB card.
 */
export const CARD_REASON_CHARS = 800;
function cardReason(reason: string | null): string | null {
  if (reason === null || reason.length <= CARD_REASON_CHARS) return reason;
  // By code point: a cut between the two halves of a surrogate pair would put a lone one in the card.
  return `${Array.from(reason).slice(0, CARD_REASON_CHARS).join('')}…`;
}

/** A mention renders only with the raw id; anything not shaped like an open id is not mentioned at all. */
const at = (openId: string | null) => (c: Catalogue) =>
  openId && /^ou_[\w-]+$/.test(openId) ? `<at id=${openId}></at>` : c.someone;

export function formatTime(ms: number | null): string {
  if (ms === null) return '-';
  // Feishu Hire customers are mostly in China: show Beijing time, and say so.
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ')} (UTC+8)`;
}

/** The host of the exam link: enough for staff to see where candidates go, never the login in it. */
function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/** Markdown the card wrote itself (not text from outside): not escaped again. */
interface Trusted {
  readonly markdown: string;
}

/** `**label**: value` lines; a value that is missing is left out, not shown as "-". */
function lines(
  c: Catalogue,
  entries: Array<[keyof Catalogue['label'], string | Trusted | null | undefined]>,
): string[] {
  return entries
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(
      ([label, value]) =>
        `**${c.label[label]}**: ${typeof value === 'string' ? escapeMarkdown(value) : (value as Trusted).markdown}`,
    );
}

function facts(exam: ExamRow, options: CardOptions): Text {
  const k = exam.candidate;
  const phone = options.showContact
    ? k.mobileNumber && `${k.mobileCode ? `+${k.mobileCode.replace(/^\+/, '')} ` : ''}${k.mobileNumber}`
    : maskPhone(k.mobileNumber, k.mobileCode);
  const email = options.showContact ? k.email : maskEmail(k.email);
  const now = options.now ?? Date.now();
  return (c) =>
    [
      ...lines(c, [
        ['candidate', k.name],
        ['phone', phone],
        ['email', email],
        ['customer', options.customer?.name],
        ['account', options.account?.name],
        [
          'paper',
          options.paper && {
            markdown: `${escapeMarkdown(options.paper.name)}${options.paper.durationMinutes ? ` (${c.minutes(options.paper.durationMinutes)})` : ''}`,
          },
        ],
        ['platform', options.platform],
      ]),
      `**${c.label.arrived}**: ${formatTime(exam.receivedAt)}`,
      ...(exam.state === 'pending_approval'
        ? [`**${c.label.waited}**: ${c.duration(Math.max(0, now - exam.receivedAt))}`]
        : []),
    ].join('\n');
}

/** Every id support may ask for, out of the way until someone opens the panel. */
function idsPanel(exam: ExamRow) {
  const ids: Array<[string, string | null]> = [
    ['exam_id', exam.examId],
    ['tenant_key', exam.tenantKey],
    ['account_id', exam.accountId],
    ['paper_id', exam.paperId],
    ['talent_id', exam.talentId],
    ['application_id', exam.applicationId],
    ['event_id', exam.eventId],
  ];
  const text = ids
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}: ${escapeMarkdown(v as string)}`)
    .join('\n');
  return {
    tag: 'collapsible_panel',
    expanded: false,
    header: { title: plainText((c) => c.label.ids) },
    elements: [markdown(() => text)],
  };
}

function decisionForm(examId: string) {
  const button = (action: CardAction, label: Text, type: string) => ({
    tag: 'button',
    name: action,
    text: plainText(label),
    type,
    form_action_type: 'submit',
    behaviors: [{ type: 'callback', value: { action, exam_id: examId } satisfies ButtonValue }],
  });
  return {
    tag: 'form',
    name: 'decision',
    elements: [
      { tag: 'input', name: 'reason', placeholder: plainText((c) => c.reasonPlaceholder), max_length: 200 },
      {
        tag: 'column_set',
        columns: [
          { tag: 'column', width: 'auto', elements: [button('approve', (c) => c.approve, 'primary')] },
          { tag: 'column', width: 'auto', elements: [button('reject', (c) => c.reject, 'danger')] },
        ],
      },
    ],
  };
}

function card(title: Text, template: string, summary: Text, elements: unknown[]): Card {
  return {
    schema: '2.0',
    config: { update_multi: true, locales: [...LOCALES], summary: bilingual(summary) },
    header: { title: plainText(title), subtitle: plainText((c) => c.subtitle), template },
    body: { elements },
  };
}

/**
 * The card for an exam in its current state. Posted once, then patched in place as the state moves.
 * `problem` says why the exam cannot be arranged as it stands (no platform serves it), so staff can reject it.
 */
export function approvalCard(exam: ExamRow, options: CardOptions, problem?: string): Card {
  const paused = pausedNotice(exam, options.customer);
  const known = facts(exam, options);
  const top = markdown((c) => [known(c), paused?.(c)].filter(Boolean).join('\n'));
  const ids = idsPanel(exam);
  const who = at(exam.decidedBy);
  const when = formatTime(exam.decidedAt);
  const pending = (c: Catalogue) => c.summary.pending;
  const done = (c: Catalogue) => c.summary.done;
  switch (exam.state) {
    case 'pending_approval':
      if (problem)
        return card((c) => c.title.problem, 'orange', pending, [
          top,
          markdown((c) => `**${c.label.problem}**: ${escapeMarkdown(problem)}\n${c.problemAdvice}`),
          decisionForm(exam.examId),
          ids,
        ]);
      return card((c) => c.title.pending, 'blue', pending, [top, decisionForm(exam.examId), ids]);
    case 'arranging':
      return card((c) => c.title.arranging, 'wathet', done, [
        top,
        markdown((c) => c.arrangingLine(who(c), when)),
        ids,
      ]);
    case 'arranged': {
      const host = hostOf(exam.arrangement?.examUrl);
      const result = exam.result;
      return card((c) => (result ? c.title.completed : c.title.arranged), 'green', done, [
        top,
        markdown((c) =>
          [
            c.approvedLine(who(c), when),
            ...lines(c, [
              ['link', host],
              ['result', result?.score],
            ]),
          ].join('\n'),
        ),
        ids,
      ]);
    }
    case 'rejected':
      return card((c) => c.title.rejected, 'red', done, [
        top,
        markdown((c) =>
          [c.rejectedLine(who(c), when), ...lines(c, [['reason', cardReason(exam.rejectReason)]])].join('\n'),
        ),
        ids,
      ]);
    case 'failed':
      return card((c) => c.title.failed, 'red', done, [
        top,
        markdown((c) =>
          [c.failedLine(who(c), when), ...lines(c, [['reason', cardReason(exam.failureReason)]])].join('\n'),
        ),
        ids,
      ]);
  }
}

/**
 * A customer that stopped or uninstalled the app cannot be written to: its exam's next steps wait. Staff
 * may still decide; the decision is carried out when the customer starts the app again.
 */
function pausedNotice(exam: ExamRow, customer: CustomerLabel | undefined): Text | undefined {
  if (!customer || customer.state === 'active') return undefined;
  if (exam.state !== 'pending_approval' && exam.state !== 'arranging') return undefined;
  const who = customer.name ? escapeMarkdown(customer.name) : undefined;
  return (c) => c.paused(who, customer.state === 'uninstalled');
}

/**
 * Posted to the staff chat when a job is refused for good: which exam, which step, what went wrong, in words
 * staff understand, and a Retry button (allowed operators only) for once the cause is fixed.
 */
export function stuckJobCard(job: JobRow, exam: ExamRow | null): Card {
  const step = (c: Catalogue) => c.stuckStep[job.kind] ?? job.kind;
  const retry = {
    tag: 'button',
    name: 'retry',
    type: 'primary',
    text: plainText((c) => c.retry),
    behaviors: [{ type: 'callback', value: { action: 'retry', job_id: job.id } satisfies RetryValue }],
  };
  return card(
    (c) => c.title.stuck,
    'orange',
    (c) => c.summary.stuck,
    [
      markdown((c) =>
        [
          ...lines(c, [
            ['candidate', exam?.candidate.name],
            ['step', step(c)],
            ['error', (job.lastError ?? '').slice(0, 500)],
          ]),
          c.stuckLine(job.attempts),
          c.stuckAdvice,
        ].join('\n'),
      ),
      retry,
      ...(exam ? [idsPanel(exam)] : []),
    ],
  );
}

export type { Bilingual };
