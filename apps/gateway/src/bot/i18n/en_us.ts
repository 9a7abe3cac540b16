// The card and toast wording in English. A translator edits this file and zh_cn.ts, nothing else; every key
// here must exist there (the type says so).
export const en_us = {
  subtitle: 'Feishu Hire · written exam',
  title: {
    pending: 'Written exam: approve the arrangement?',
    problem: 'Written exam: cannot be arranged as it stands',
    arranging: 'Approved: arranging the exam…',
    arranged: 'Exam arranged',
    completed: 'Exam completed',
    rejected: 'Arrangement rejected',
    failed: 'Arrangement failed',
    stuck: 'An exam needs attention',
  },
  label: {
    candidate: 'Candidate',
    phone: 'Phone',
    email: 'Email',
    customer: 'Customer',
    account: 'Account',
    paper: 'Paper',
    platform: 'Exam platform',
    arrived: 'Arrived',
    waited: 'Waiting for',
    link: 'Exam link',
    result: 'Score',
    reason: 'Reason',
    problem: 'Problem',
    step: 'Step',
    error: 'What went wrong',
    ids: 'Ids (for support)',
  },
  minutes: (n: number) => `${n} min`,
  duration: (ms: number) => {
    const minutes = Math.floor(ms / 60_000);
    if (minutes < 1) return 'less than a minute';
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} days`;
  },
  someone: 'someone',
  reasonPlaceholder: 'Reason (required to reject)',
  approve: 'Approve',
  reject: 'Reject',
  retry: 'Retry',
  problemAdvice: 'Approving will fail; reject it with this reason, or fix the providers configuration first.',
  arrangingLine: (who: string, when: string) =>
    `Approved by ${who} at ${when}. Arranging on the exam platform…`,
  approvedLine: (who: string, when: string) => `Approved by ${who} at ${when}. Reported to Feishu Hire.`,
  rejectedLine: (who: string, when: string) => `Rejected by ${who} at ${when}. Feishu Hire was told.`,
  failedLine: (who: string, when: string) =>
    `Approved by ${who} at ${when}, but the exam platform refused. Feishu Hire was told.`,
  paused: (who: string | undefined, uninstalled: boolean) =>
    `**Paused**: ${who ?? 'The customer'} has ${uninstalled ? 'uninstalled' : 'stopped'} the app. Nothing is sent to its Feishu Hire until it starts the app again; the exam waits.`,
  stuckStep: {
    post_card: 'posting this card',
    arrange: 'arranging the exam on the platform',
    report_login_info: 'telling Feishu Hire the exam link',
    refresh_card: 'updating the card',
    notify_dead: 'posting a notice',
    sync_papers: "publishing the account's papers",
    report_result: 'sending the result to Feishu Hire',
    register_custom_fields: 'registering the account fields',
    poll_result: 'asking the platform for the result',
  } as Record<string, string>,
  stuckLine: (attempts: number) =>
    `Feishu or the exam platform refused this step for good (after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}); it will not be retried by itself.`,
  stuckAdvice: 'Fix the cause (often a setting or a retired paper), then press Retry.',
  summary: {
    pending: 'Exam arrangement awaiting approval',
    done: 'Exam arrangement updated',
    stuck: 'An exam needs attention',
  },
  toast: {
    notOurs: 'This card is not one of ours, or is out of date.',
    otherTenant: "Only the vendor's staff can decide on exams; this click came from another organisation.",
    notAllowed: 'You are not allowed to decide on exams. Ask an administrator to add you.',
    notRegistered: 'This card is still being registered. Please click again in a moment.',
    reasonRequired: 'Please enter a reason before rejecting.',
    unknownExam: 'This exam is not known to the gateway.',
    alreadyDecided: (approved: boolean, who: string, when: string) =>
      `Already ${approved ? 'approved' : 'rejected'} by ${who} at ${when}. Nothing changed.`,
    approved: 'Approved. Arranging the exam…',
    rejected: 'Rejected. Feishu Hire will be told.',
    retried: 'Retrying now.',
    notDead: 'This step is no longer stuck; nothing to retry.',
    unreadable: 'The gateway could not read this click; see /admin/events.',
    stillWorking: 'Still recording your decision; the card will show it shortly.',
    notRecorded: 'The gateway could not record this decision. Please try again.',
  },
};

export type Catalogue = typeof en_us;
