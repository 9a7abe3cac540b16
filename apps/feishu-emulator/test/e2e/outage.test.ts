import { afterEach, describe, expect, it } from 'vitest';
import {
  cardsFor,
  clickFor,
  examPayload,
  type GatewayProcess,
  loginInfoFor,
  type Platform,
  startGateway,
  startPlatform,
  until,
} from './harness.js';

let platform: Platform | undefined;
const gateways: GatewayProcess[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
  await platform?.running.close();
});

/** The old retry budget: after 12 attempts a job was dead, however transient its failures. */
const OLD_BUDGET = 12;
const admin = { authorization: 'Bearer e2e-admin-token-0123456789' };

describe('a long Open Platform outage', () => {
  it('every call refused for longer than the old retry budget, twice (cards, then login_info): every exam still gets its card and its login_info, with no operator', async () => {
    platform = await startPlatform();
    const p = platform;
    // 1. The cards: a 503 on every call, the token endpoint included (so the card calls themselves never go
    // out: the attempts are counted in the jobs). From before the gateway starts: its worker starts before it
    // says it is listening, and a token fetched meanwhile (for the account fields it registers at start) would
    // be cached, and the cards' calls would then be refused at /im/v1/messages instead.
    p.emulator.outage('http_503');
    // Backoff compressed: 5 ms doubling to 50 ms, so a dozen attempts pass in about a second.
    const gateway = await startGateway(p, { OUTBOX_BASE_DELAY_MS: '5', OUTBOX_MAX_DELAY_MS: '50' });
    gateways.push(gateway);
    const exams = Array.from({ length: 8 }, (_, i) => `outage-${i}`);
    const refused = (pathPart: string, body?: (b: Record<string, unknown>) => boolean) =>
      p.emulator.state.calls.filter(
        (c) => c.fault && c.path.includes(pathPart) && (!body || body(c.body as Record<string, unknown>)),
      ).length;
    const readyz = async () => {
      const res = await fetch(`${gateway.url}/readyz`);
      return { status: res.status, body: (await res.json()) as { jobs?: Record<string, number> } };
    };

    // Only listings (GET) of the jobs: nothing an operator would do to recover.
    const jobs = async () =>
      (await (await fetch(`${gateway.url}/admin/jobs`, { headers: admin })).json()) as {
        jobs: Array<{ kind: string; examId: string; attempts: number; state: string }>;
        counts: Record<string, number>;
      };
    const attemptsOf = (listing: Awaited<ReturnType<typeof jobs>>, kind: string, id: string) =>
      listing.jobs.find((j) => j.kind === kind && j.examId === id)?.attempts ?? 0;

    for (const id of exams) {
      const attempts = await p.emulator.pushExam(`${gateway.url}/webhook/event`, examPayload(id));
      expect(attempts.at(-1)?.status).toBe(200);
    }
    let listing = await jobs();
    for (let i = 0; i < 600 && !exams.every((id) => attemptsOf(listing, 'post_card', id) > OLD_BUDGET); i++) {
      await new Promise((r) => setTimeout(r, 100));
      listing = await jobs();
    }
    for (const id of exams) expect(attemptsOf(listing, 'post_card', id), id).toBeGreaterThan(OLD_BUDGET);
    expect(refused('/open-apis/auth/')).toBeGreaterThan(OLD_BUDGET);
    expect(exams.every((id) => cardsFor(p.emulator, id).length === 0)).toBe(true);
    // The outage shows in /readyz's body, never in its status: draining the gateway would not help.
    const during = await readyz();
    expect(during.status).toBe(200);
    expect(during.body.jobs).toMatchObject({ dead: 0 });
    expect(during.body.jobs?.retrying).toBeGreaterThan(0);
    p.emulator.endOutage();
    await until('every card', () => exams.every((id) => cardsFor(p.emulator, id).length === 1), 30_000);

    // 2. The login_info reports: approved while every API call is refused as rate-limited (the token
    // endpoint answers, so the refused calls are in the emulator's records, exam by exam).
    p.emulator.outage('rate_limit', { includeTokens: false });
    for (const id of exams) expect((await clickFor(p, gateway, id, 'ou_staff', 'approve')).status).toBe(200);
    await until(
      `every login_info refused more than ${OLD_BUDGET} times`,
      () => exams.every((id) => refused(`/eco_exams/${id}/login_info`) > OLD_BUDGET) && exams,
      60_000,
    );
    expect(exams.every((id) => loginInfoFor(p.emulator, id).length === 0)).toBe(true);
    p.emulator.endOutage();
    await until(
      'every login_info and final card',
      () =>
        exams.every(
          (id) =>
            loginInfoFor(p.emulator, id).length > 0 &&
            cardsFor(p.emulator, id)[0]?.content.includes('Exam arranged'),
        ),
      30_000,
    );

    for (const id of exams) {
      expect(cardsFor(p.emulator, id), id).toHaveLength(1);
      expect(loginInfoFor(p.emulator, id), id).toHaveLength(1);
      expect(loginInfoFor(p.emulator, id)[0]?.result).toBe(0);
    }
    // Nothing died, and the attempts counted in the jobs agree with the calls the emulator refused.
    listing = await jobs();
    expect(listing.counts.dead ?? 0).toBe(0);
    for (const id of exams) {
      const report = listing.jobs.find((j) => j.kind === 'report_login_info' && j.examId === id);
      expect(report, id).toMatchObject({ state: 'done' });
      expect(report?.attempts, id).toBeGreaterThan(OLD_BUDGET);
    }
    expect((await readyz()).body.jobs).toMatchObject({ dead: 0 });
  }, 180_000);
});
