import { createHash } from 'node:crypto';

/**
 * The checks Feishu makes on an interactive card, as far as this project relies on them: JSON 2.0 cards
 * take only documented top-level keys, must set config.update_multi, and every element needs a tag.
 */
const TOP_LEVEL_V2 = new Set(['schema', 'config', 'card_link', 'header', 'body']);
export const MAX_CARD_BYTES = 30 * 1024;

export type CardCheck =
  | { ok: true; card: Record<string, unknown>; schema: '1.0' | '2.0' }
  | { ok: false; code: number; reason: string };

export function checkCard(content: unknown): CardCheck {
  if (typeof content !== 'string')
    return { ok: false, code: 230099, reason: 'content must be a JSON string' };
  if (Buffer.byteLength(content) > MAX_CARD_BYTES)
    return { ok: false, code: 230025, reason: 'card content exceeds 30 KB' };
  let card: unknown;
  try {
    card = JSON.parse(content);
  } catch {
    return { ok: false, code: 230099, reason: 'content is not JSON' };
  }
  return checkCardObject(card);
}

export function checkCardObject(card: unknown): CardCheck {
  const bad = (reason: string): CardCheck => ({
    ok: false,
    code: 230099,
    reason: `Failed to create card content, ext=ErrCode: 200621; ErrMsg: ${reason}`,
  });
  if (typeof card !== 'object' || card === null || Array.isArray(card))
    return bad('card must be a JSON object');
  const c = card as Record<string, unknown>;
  if (c.schema !== '2.0') {
    const elements = c.elements ?? c.i18n_elements;
    return elements ? { ok: true, card: c, schema: '1.0' } : bad('card 1.0 needs elements');
  }
  for (const key of Object.keys(c))
    if (!TOP_LEVEL_V2.has(key)) return bad(`unknown property "${key}" in card JSON 2.0`);
  const config = c.config as Record<string, unknown> | undefined;
  if (config?.update_multi !== true) return bad('card JSON 2.0 requires config.update_multi = true');
  const body = c.body as Record<string, unknown> | undefined;
  if (!body || !Array.isArray(body.elements)) return bad('body.elements must be an array');
  const problem = checkElements(body.elements, 'body.elements');
  return problem ? bad(problem) : { ok: true, card: c, schema: '2.0' };
}

function checkElements(elements: unknown[], path: string): string | undefined {
  for (const [i, element] of elements.entries()) {
    const at = `${path}[${i}]`;
    if (typeof element !== 'object' || element === null) return `${at} is not an object`;
    const e = element as Record<string, unknown>;
    if (typeof e.tag !== 'string') return `${at} has no tag`;
    if (e.tag === 'button' && typeof e.text !== 'object') return `${at}: a button needs text`;
    for (const nested of ['elements', 'columns'] as const) {
      if (e[nested] === undefined) continue;
      if (!Array.isArray(e[nested])) return `${at}.${nested} must be an array`;
      const problem = checkElements(e[nested] as unknown[], `${at}.${nested}`);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * The uuid the gateway gives an exam's approval card (its idempotency key for im.v1.message.create): "exam-"
 * and 43 characters of the exam id's SHA-256 in base64url, so two long ids with the same beginning get two
 * cards. A marketplace gateway hashes "<tenant key>/<exam id>" (ids are unique only inside one customer's
 * Hire). Tests and the demo find an exam's card by it.
 */
export const approvalCardUuid = (examId: string, tenantKey?: string) =>
  `exam-${createHash('sha256')
    .update(tenantKey === undefined ? examId : `${tenantKey}/${examId}`)
    .digest('base64url')
    .slice(0, 43)}`;
