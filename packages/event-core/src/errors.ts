/**
 * Every way a push can be refused, with the HTTP status a gateway should answer and a hint that says
 * what to fix. Codes are stable: gateways, logs and tests match on them.
 */
export const parseErrorCatalog = {
  body_too_large: { status: 413, hint: 'the request body exceeds the configured limit' },
  malformed_json: { status: 400, hint: 'the request body is not valid JSON' },
  body_not_object: { status: 400, hint: 'the request body is JSON but not a JSON object' },
  encrypt_key_not_configured: {
    status: 500,
    hint: 'the body is encrypted but no encrypt key is configured; set FEISHU_ENCRYPT_KEY',
  },
  decrypt_failed: {
    status: 400,
    hint: 'the encrypted body could not be decrypted; check FEISHU_ENCRYPT_KEY',
  },
  bad_signature: {
    status: 401,
    hint: 'the X-Lark-Signature does not match; check FEISHU_ENCRYPT_KEY',
  },
  stale_timestamp: {
    status: 401,
    hint: 'X-Lark-Request-Timestamp is outside the accepted window; check the server clock',
  },
  bad_token: {
    status: 401,
    hint: 'the verification token does not match; check FEISHU_VERIFICATION_TOKEN',
  },
  schema_invalid: { status: 400, hint: 'the push does not have the shape Feishu documents' },
  internal_error: { status: 500, hint: 'a bug in event-core: please report it with the request' },
} as const satisfies Record<string, { status: number; hint: string }>;

export type ParseErrorCode = keyof typeof parseErrorCatalog;

export interface ParseError {
  readonly code: ParseErrorCode;
  /** The HTTP status a gateway should answer with. */
  readonly status: number;
  /** Fit for a log line and an HTTP error body: never contains secrets or payload values. */
  readonly message: string;
  /** For schema_invalid: the dotted path of the offending field, e.g. `event.candidate_info.email`. */
  readonly path?: string;
  /**
   * Set on a schema_invalid payload that passed every authenticity check (signature and/or token): the
   * push is genuinely Feishu's, so a gateway may record it and acknowledge it rather than have it re-pushed.
   */
  readonly verifiedEvent?: { readonly id: string; readonly type: string };
}

export function parseError(code: ParseErrorCode, detail?: string, path?: string): ParseError {
  const { status, hint } = parseErrorCatalog[code];
  const message = detail ? `${code}: ${detail}; ${hint}` : `${code}: ${hint}`;
  return path === undefined ? { code, status, message } : { code, status, message, path };
}
