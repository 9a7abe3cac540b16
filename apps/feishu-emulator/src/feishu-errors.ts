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
  /** "get app access token fail": the app_ticket is unknown or older than 3 h. */
  appTicketInvalid: 10012,
  appSecretInvalid: 10014,
  /** app_ticket/resend called by an app that is not a store app. */
  resendFailed: 10016,
  appTokenInvalid: 99991664,
  tenantKeyInvalid: 99991665,
  /**
   * A call made with the token of a tenant that has stopped the app (generic error codes: 99991662
   * 检查该应用是否处于停用状态; 10014 应用状态不可用 is the other, and the gateway takes both).
   */
  appStopped: 99991662,
  botNotInChat: 230002,
  /**
   * A message refused for the frequency limit of its chat (or user): Feishu takes 5 messages a second into one
   * group, shared by its bots (im.v1.message.create, 使用限制). Answered with HTTP 400.
   */
  chatRateLimited: 230020,
  /**
   * Emulator only: a call about one tenant's exam or account made with another tenant's token. Feishu
   * would act on the other tenant's Hire; the emulator refuses, so that the mistake cannot pass unseen.
   */
  wrongTenant: 1002999,
  /**
   * A patch of a message sent more than 14 days ago (im.v1.message.patch, 错误码: 230031 "Message can only be
   * modified within 14 days after sending", HTTP 400).
   */
  messageTooOld: 230031,
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
