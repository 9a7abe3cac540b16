// HackerRank for Work, API v3: the parts this gateway uses, as zod schemas (the types are inferred).
//
// Sources, checked 2026-11:
// - https://www.hackerrank.com/work/apidocs (the official reference): Bearer authentication; the list
//   envelope (`data`, `page_total`, `offset`, `previous`, `next`, `first`, `last`, `total`); TestCandidate
//   `id`, `full_name`, `email`, `score`, `attempt_starttime`, `attempt_endtime`, and `status` from -1
//   ("currently invited") to 7 ("completed the test and a report has been generated"), the values between
//   being internal.
// - Two independent public clients of the same API, which agree with each other: a Go client generated from
//   HackerRank's schema (types TestsIndex, TestCandidateCreate, TestCandidateRef) and a Python client
//   (dataclasses Test, TestCandidate). From them: the invite body (`full_name`, `email`, `send_email`,
//   `invite_metadata`, `tags`, `test_finish_url`, `force`, ...), the candidate's `invite_link` (the link the candidate
//   opens), `report_url`, `pdf_url`, `percentage_score`, and the Test fields `id`, `name`, `duration`
//   (minutes), `state`, `draft`, `questions`.
// Not documented anywhere we found: what HackerRank answers when the same email is invited to the same test
// twice without `force`. The provider does not depend on it: a retried createExam (request.retry) looks for
// the earlier invitation before inviting (see createExam).
import { z } from 'zod';

/** Every list endpoint answers with this envelope. */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({
    data: z.array(item),
    page_total: z.number().int().optional(),
    offset: z.number().int().optional(),
    next: z.string().nullish(),
    total: z.union([z.number(), z.string()]).optional(),
  });

export const hackerRankTest = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  name: z.string(),
  duration: z.number().nullish(),
  state: z.string().nullish(),
  draft: z.boolean().nullish(),
  questions: z.array(z.unknown()).nullish(),
});

/** TestCandidate; the fields the gateway reads. */
export const testCandidate = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  email: z.string().nullish(),
  full_name: z.string().nullish(),
  status: z.number().nullish(),
  score: z.number().nullish(),
  percentage_score: z.number().nullish(),
  attempt_starttime: z.string().nullish(),
  attempt_endtime: z.string().nullish(),
  invite_link: z.string().nullish(),
  report_url: z.string().nullish(),
  pdf_url: z.string().nullish(),
  invite_metadata: z.record(z.string(), z.unknown()).nullish(),
});

export type HackerRankTest = z.infer<typeof hackerRankTest>;
export type TestCandidate = z.infer<typeof testCandidate>;

/** "7 indicates that candidates has completed the test and a report has been generated." */
export const REPORT_READY = 7;

/** Where the gateway writes Feishu's exam id on the invitation, so a retried invite can find it again. */
export const EXAM_ID_METADATA_KEY = 'feishu_exam_id';
