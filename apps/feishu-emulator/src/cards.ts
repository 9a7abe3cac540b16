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

const TOAST_TYPES = new Set(['info', 'success', 'error', 'warning']);

export type CallbackAnswerCheck =
  | { ok: true; card?: Record<string, unknown> }
  | { ok: false; code: number; reason: string };

/**
 * What the Feishu client makes of a card callback's answer (HTTP 200 already), with the error codes it shows
 * (https://open.feishu.cn/document/feishu-cards/card-callback-communication, 错误码): 200672 a body that is not
 * the documented shape (a toast's type is info, success, error or warning), 200673 a bad `card`, 200830 a card
 * sent as JSON 2.0 answered with a 1.0 card. `card` is the raw card to show instead, if any (a template is
 * accepted and not rendered).
 */
export function checkCallbackAnswer(
  body: unknown,
  sentSchema: '1.0' | '2.0' | undefined,
): CallbackAnswerCheck {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, code: 200672, reason: 'the answer is not a JSON object' };
  const { toast, card } = body as { toast?: unknown; card?: unknown };
  if (toast !== undefined) {
    const t = toast as { type?: unknown; content?: unknown } | null;
    if (typeof t !== 'object' || t === null || Array.isArray(t))
      return { ok: false, code: 200672, reason: 'toast must be an object' };
    if (t.type !== undefined && !TOAST_TYPES.has(t.type as string))
      return { ok: false, code: 200672, reason: 'toast.type must be info, success, error or warning' };
    if (t.content !== undefined && typeof t.content !== 'string')
      return { ok: false, code: 200672, reason: 'toast.content must be a string' };
  }
  if (card === undefined) return { ok: true };
  const c = card as { type?: unknown; data?: unknown } | null;
  if (typeof c !== 'object' || c === null || (c.type !== 'raw' && c.type !== 'template'))
    return { ok: false, code: 200673, reason: 'card.type must be raw or template' };
  if (c.type === 'template') return { ok: true };
  const check = checkCardObject(c.data);
  if (!check.ok) return { ok: false, code: 200673, reason: check.reason };
  if (sentSchema === '2.0' && check.schema !== '2.0')
    return { ok: false, code: 200830, reason: 'a card sent as JSON 2.0 cannot become JSON 1.0' };
  return { ok: true, card: check.card };
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
