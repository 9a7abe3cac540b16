import { randomBytes } from 'node:crypto';

/** Feishu's answer shapes: `{code: 0, msg, data}` on success, `{code, msg, error: {log_id, …}}` otherwise. */
export const success = (data: unknown = {}) => ({ code: 0, msg: 'success', data });

export function failure(code: number, msg: string, extra: Record<string, unknown> = {}) {
  const logId = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}${randomBytes(8).toString('hex').toUpperCase()}`;
  return {
    code,
    msg,
    error: {
      log_id: logId,
      troubleshooter: `排查建议查看(Troubleshooting suggestions): https://open.feishu.cn/search?log_id=${logId}`,
      ...extra,
    },
  };
}

/** The codes this emulator answers with, as Feishu documents them. */
export const FeishuCode = {
  appSecretInvalid: 10014,
  missingToken: 99991661,
  tokenInvalid: 99991663,
  rateLimited: 99991400,
  fieldValidation: 99992402,
  cardInvalid: 230099,
  cardTooLarge: 230025,
  messageNotFound: 230011,
  notMessageSender: 230027,
  internal: 1,
} as const;
