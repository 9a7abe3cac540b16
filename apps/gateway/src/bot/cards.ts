// bot: the approval card (Feishu card JSON 2.0) for each state of an exam, and the stuck-job notice.
import { maskEmail, maskPhone } from '../log.js';
import type { ExamRow, JobRow, TenantState } from '../store/index.js';

export interface CardOptions {
  /** Show the candidate's full phone and email on the card (the staff chat must be allowed to see them). */
  readonly showContact: boolean;
  /** Marketplace: which customer the exam is for, by name, and whether it still runs the app. */
  readonly customer?: CustomerLabel | undefined;
}

export interface CustomerLabel {
  /** The company name from tenant.v2.tenant.query; null while unknown. */
  readonly name: string | null;
  readonly state: TenantState;
}

export type CardAction = 'approve' | 'reject';
/** The value a button sends back in card.action.trigger. */
export interface ButtonValue {
  readonly action: CardAction;
  readonly exam_id: string;
}

type Card = Record<string, unknown>;

const headerOf = (title: string, template: string, subtitle?: string) => ({
  title: { tag: 'plain_text', content: title },
  ...(subtitle ? { subtitle: { tag: 'plain_text', content: subtitle } } : {}),
  template,
});

const markdown = (content: string) => ({ tag: 'markdown', content });

/** Text from outside (names, reasons) must not become markdown, links or mentions. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_~[\]()<>#|]/g, (c) => `\\${c}`);
}

const safeUrl = (url: string) => url.replace(/[()\s]/g, encodeURIComponent);

/**
 * A provider may report 20 reports with 2048-character URLs (PROVIDER_LIMITS): all of them would take a card
 * past Feishu's 30 KB, and the patch would be refused. The card links the first few; Feishu Hire has them all.
 */
const MAX_REPORT_LINKS = 3;
const MAX_LINKED_URL = 1024;
function reportLinks(reports: ReadonlyArray<{ name: string; url: string }>): string {
  const shown = reports.slice(0, MAX_REPORT_LINKS).map((r) => {
    const name = escapeMarkdown(r.name.length > 80 ? `${r.name.slice(0, 79)}…` : r.name);
    return r.url.length > MAX_LINKED_URL ? name : `[${name}](${safeUrl(r.url)})`;
  });
  const more = reports.length - shown.length;
  return [...shown, ...(more > 0 ? [`+${more} more in Feishu Hire`] : [])].join(', ');
}

/** A mention renders only with the raw id; anything not shaped like an open id is not mentioned at all. */
const at = (openId: string | null) =>
  openId && /^ou_[\w-]+$/.test(openId) ? `<at id=${openId}></at>` : 'someone';

export function formatTime(ms: number | null): string {
  if (ms === null) return '-';
  // Feishu Hire customers are mostly in China: show Beijing time, and say so.
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ')} (UTC+8)`;
}

function summary(exam: ExamRow, options: CardOptions): string {
  const c = exam.candidate;
  const phone = options.showContact
    ? c.mobileNumber && `+${c.mobileCode ?? ''} ${c.mobileNumber}`
    : maskPhone(c.mobileNumber, c.mobileCode);
  const email = options.showContact ? c.email : maskEmail(c.email);
  const line = (label: string, value: string | null | undefined) =>
    `**${label}**: ${value ? escapeMarkdown(value) : '-'}`;
  return [
    line('Candidate', c.name),
    line('Phone', phone),
    line('Email', email),
    line('Paper', exam.paperId),
    line(
      'Customer',
      `${options.customer?.name ? `${options.customer.name} (${exam.tenantKey})` : exam.tenantKey}${exam.accountId ? ` / account ${exam.accountId}` : ''}`,
    ),
    line('Exam', exam.examId),
    `**Arrived**: ${formatTime(exam.receivedAt)}`,
  ].join('\n');
}

function decisionForm(examId: string) {
  const button = (action: CardAction, label: string, type: string) => ({
    tag: 'button',
    name: action,
    text: { tag: 'plain_text', content: label },
    type,
    form_action_type: 'submit',
    behaviors: [{ type: 'callback', value: { action, exam_id: examId } satisfies ButtonValue }],
  });
  return {
    tag: 'form',
    name: 'decision',
    elements: [
      {
        tag: 'input',
        name: 'reason',
        placeholder: { tag: 'plain_text', content: 'Reason (required to reject)' },
        max_length: 200,
      },
      {
        tag: 'column_set',
        columns: [
          { tag: 'column', width: 'auto', elements: [button('approve', 'Approve', 'primary')] },
          { tag: 'column', width: 'auto', elements: [button('reject', 'Reject', 'danger')] },
        ],
      },
    ],
  };
}

function card(title: string, template: string, elements: unknown[], subtitle?: string): Card {
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: title } },
    header: headerOf(title, template, subtitle),
    body: { elements },
  };
}

/**
 * The card for an exam in its current state. Posted once, then patched in place as the state moves.
 * `problem` says why the exam cannot be arranged as it stands (no platform serves it), so staff can reject it.
 */
export function approvalCard(exam: ExamRow, options: CardOptions, problem?: string): Card {
  const paused = pausedNotice(exam, options.customer);
  const facts = paused ? markdown(`${summary(exam, options)}\n${paused}`) : markdown(summary(exam, options));
  const decided = `${at(exam.decidedBy)} at ${formatTime(exam.decidedAt)}`;
  switch (exam.state) {
    case 'pending_approval':
      if (problem) {
        const warning = markdown(
          `**Problem**: ${escapeMarkdown(problem)}.\nApproving will fail; reject it with this reason, or fix the providers configuration first.`,
        );
        return card(
          'Written exam: cannot be arranged as it stands',
          'orange',
          [facts, warning, decisionForm(exam.examId)],
          'Feishu Hire 笔试安排',
        );
      }
      return card(
        'Written exam: approve the arrangement?',
        'blue',
        [facts, decisionForm(exam.examId)],
        'Feishu Hire 笔试安排',
      );
    case 'arranging':
      return card('Approved: arranging the exam…', 'wathet', [
        facts,
        markdown(`Approved by ${decided}. Arranging on the exam platform…`),
      ]);
    case 'arranged': {
      const url = exam.arrangement?.examUrl;
      const link = url ? `[Open the exam](${safeUrl(url)})` : '-';
      const lines = [`Approved by ${decided}.`, `**Exam link**: ${link}`, 'Reported to Feishu Hire.'];
      if (exam.result) {
        const reports = reportLinks(exam.result.reports ?? []);
        lines.push(`**Result**: ${escapeMarkdown(exam.result.score)}${reports ? ` (${reports})` : ''}`);
      }
      return card(exam.result ? 'Exam completed' : 'Exam arranged', 'green', [
        facts,
        markdown(lines.join('\n')),
      ]);
    }
    case 'rejected':
      return card('Arrangement rejected', 'red', [
        facts,
        markdown(`Rejected by ${decided}.\n**Reason**: ${escapeMarkdown(exam.rejectReason ?? '-')}`),
      ]);
    case 'failed':
      return card('Arrangement failed', 'red', [
        facts,
        markdown(
          `Approved by ${decided}, but the exam platform refused.\n**Reason**: ${escapeMarkdown(exam.failureReason ?? '-')}`,
        ),
      ]);
  }
}

/**
 * A customer that stopped or uninstalled the app cannot be written to: its exam's next steps wait. Staff
 * may still decide; the decision is carried out when the customer starts the app again.
 */
function pausedNotice(exam: ExamRow, customer: CustomerLabel | undefined): string | undefined {
  if (!customer || customer.state === 'active') return undefined;
  if (exam.state !== 'pending_approval' && exam.state !== 'arranging') return undefined;
  const who = customer.name ? escapeMarkdown(customer.name) : 'The customer';
  const what = customer.state === 'uninstalled' ? 'uninstalled the app' : 'stopped the app';
  return `**Paused**: ${who} has ${what}. Nothing is sent to its Feishu Hire until it starts the app again; the exam waits.`;
}

/** Posted to the staff chat when an outbox job gives up: which exam is stuck, and why. */
export function stuckJobCard(job: JobRow, exam: ExamRow | null): Card {
  return card('An exam is stuck', 'orange', [
    markdown(
      [
        `**Exam**: ${escapeMarkdown(job.examId ?? '-')}${exam?.candidate.name ? ` (${escapeMarkdown(exam.candidate.name)})` : ''}`,
        // Only a permanent refusal parks a job (a transient failure is retried until it succeeds).
        `**Step**: ${job.kind}, refused for good after ${job.attempts} ${job.attempts === 1 ? 'attempt' : 'attempts'}`,
        `**Last error**: ${escapeMarkdown((job.lastError ?? '-').slice(0, 500))}`,
        `Retry it with \`POST /admin/jobs/${job.id}/retry\` once the cause is fixed.`,
      ].join('\n'),
    ),
  ]);
}
