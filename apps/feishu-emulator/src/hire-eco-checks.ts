// The request bodies of the Hire eco APIs, checked as Feishu checks them: the fields and types of the node
// SDK's declarations (types/index.d.ts, hire.v1.ecoExamPaper / ecoAccountCustomField / ecoExam) and the rules
// Feishu's pages add (ids and names 1–255 characters, start before end, one key once). Each check answers the
// first violation, as Feishu's `field_violations` name it, or undefined when the body is acceptable.

export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

type Body = Record<string, unknown>;

const violation = (field: string, description: string): FieldViolation => ({ field, description });
const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const optional = (v: unknown, ok: (v: unknown) => boolean) => v === undefined || ok(v);
const isString = (v: unknown): v is string => typeof v === 'string';
/** Feishu's `int`: a JSON number without a fraction ("30", 22.5 are refused). */
const isInt = (v: unknown) => Number.isInteger(v);
/** Epoch milliseconds in a string, e.g. "1658676234053". */
export const isMillis = (v: unknown) => typeof v === 'string' && /^\d{13}$/.test(v);

/** An i18n text object: `{zh_cn?, en_us?}`, each a string. */
function i18nViolation(value: unknown, field: string): FieldViolation | undefined {
  if (!isObject(value)) return violation(field, `${field} is an object {zh_cn?, en_us?}`);
  for (const lang of ['zh_cn', 'en_us'] as const)
    if (!optional(value[lang], isString)) return violation(`${field}.${lang}`, `${lang} is a string`);
  return undefined;
}

/** eco_exam_papers create (batch_update takes the same body): `{account_id, paper_list: [{id, name, duration?, …}]}`. */
export function paperListViolation(body: Body): FieldViolation | undefined {
  if (!isString(body.account_id) || body.account_id === '')
    return violation('account_id', 'account_id is required');
  if (!Array.isArray(body.paper_list) || body.paper_list.length === 0)
    return violation('paper_list', 'paper_list is required');
  for (const [i, paper] of body.paper_list.entries()) {
    const at = `paper_list[${i}]`;
    if (!isObject(paper)) return violation(at, 'a paper is an object');
    for (const field of ['id', 'name'] as const) {
      const value = paper[field];
      if (!isString(value) || value === '' || value.length > 255)
        return violation(`${at}.${field}`, `${field} is required, at most 255 characters`);
    }
    for (const field of ['duration', 'question_count'] as const)
      if (!optional(paper[field], isInt))
        return violation(`${at}.${field}`, `${field} is an int (a whole number)`);
    // "留空或不传表示不限制": an empty string is no limit, like an absent one.
    for (const field of ['start_time', 'end_time'] as const)
      if (!optional(paper[field], (v) => v === '' || isMillis(v)))
        return violation(`${at}.${field}`, `${field} is a millisecond timestamp string`);
    const { start_time: start, end_time: end } = paper;
    if (isMillis(start) && isMillis(end) && Number(start) >= Number(end))
      return violation(`${at}.end_time`, 'the start time must be before the end time');
  }
  return undefined;
}

/** eco_exam_papers batch_delete: `{account_id, paper_id_list: string[]}`. */
export function paperDeleteViolation(body: Body): FieldViolation | undefined {
  if (!isString(body.account_id) || body.account_id === '')
    return violation('account_id', 'account_id is required');
  if (!Array.isArray(body.paper_id_list)) return violation('paper_id_list', 'paper_id_list is required');
  for (const [i, id] of body.paper_id_list.entries())
    if (!isString(id)) return violation(`paper_id_list[${i}]`, 'a paper id is a string');
  return undefined;
}

/**
 * eco_account_custom_fields create: `{scope: 1|2, custom_field_list: [{key, name, is_required, description?}]}`;
 * a key once per scope.
 */
export function customFieldListViolation(body: Body): FieldViolation | undefined {
  if (body.scope !== 1 && body.scope !== 2)
    return violation('scope', 'scope must be 1 (background check) or 2 (exam)');
  if (!Array.isArray(body.custom_field_list) || body.custom_field_list.length === 0)
    return violation('custom_field_list', 'custom_field_list is required');
  const keys = new Set<string>();
  for (const [i, field] of body.custom_field_list.entries()) {
    const at = `custom_field_list[${i}]`;
    if (!isObject(field)) return violation(at, 'a custom field is an object');
    if (!isString(field.key) || field.key === '') return violation(`${at}.key`, 'key is required');
    if (keys.has(field.key)) return violation(`${at}.key`, `key ${field.key} is unique within a scope`);
    keys.add(field.key);
    const name = i18nViolation(field.name, `${at}.name`);
    if (name) return name;
    if (typeof field.is_required !== 'boolean')
      return violation(`${at}.is_required`, 'is_required is required, true or false');
    if (field.description !== undefined) {
      const description = i18nViolation(field.description, `${at}.description`);
      if (description) return description;
    }
  }
  return undefined;
}

/**
 * eco_exams login_info: `{result?: int, msg?, exam_login_info: {exam_url, username?, password?}}`. The URL is
 * required by the declarations whatever the result; a success needs a real one.
 */
export function loginInfoViolation(body: Body): FieldViolation | undefined {
  if (!optional(body.result, isInt)) return violation('result', 'result must be an integer');
  if (!optional(body.msg, isString)) return violation('msg', 'msg is a string');
  const info = body.exam_login_info;
  if (!isObject(info)) return violation('exam_login_info', 'exam_login_info is required');
  if (!isString(info.exam_url))
    return violation('exam_login_info.exam_url', 'exam_url is required (a string)');
  if ((body.result === undefined || body.result === 0) && info.exam_url === '')
    return violation('exam_login_info.exam_url', 'exam_url is required when result is success');
  for (const field of ['username', 'password'] as const)
    if (!optional(info[field], isString))
      return violation(`exam_login_info.${field}`, `${field} is a string`);
  return undefined;
}

/**
 * eco_exams update_result: `{result: string, result_time?, report_list?: [{name, url, answer_time?}],
 * detail_list?: [{id?, name, result}]}`, times as millisecond timestamps in strings.
 */
export function updateResultViolation(body: Body): FieldViolation | undefined {
  const text = (v: unknown) => isString(v) && v !== '';
  if (!isString(body.result)) return violation('result', 'result is required (a string, e.g. "60.5")');
  if (!optional(body.result_time, isMillis))
    return violation('result_time', 'result_time is a millisecond timestamp string, e.g. "1658676234053"');
  if (!optional(body.report_list, Array.isArray)) return violation('report_list', 'report_list is a list');
  for (const [i, report] of ((body.report_list as unknown[] | undefined) ?? []).entries()) {
    if (!isObject(report) || !text(report.name) || !text(report.url))
      return violation(`report_list[${i}]`, 'a report needs a name and a url');
    if (!optional(report.answer_time, isMillis))
      return violation(
        `report_list[${i}].answer_time`,
        'answer_time is when the candidate finished, a millisecond timestamp string',
      );
  }
  if (!optional(body.detail_list, Array.isArray)) return violation('detail_list', 'detail_list is a list');
  for (const [i, detail] of ((body.detail_list as unknown[] | undefined) ?? []).entries()) {
    if (!isObject(detail) || !text(detail.name) || !isString(detail.result))
      return violation(`detail_list[${i}]`, 'a detail needs a name and a result');
    if (!optional(detail.id, isString)) return violation(`detail_list[${i}].id`, 'id is a string');
  }
  return undefined;
}
