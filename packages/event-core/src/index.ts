// event-core: Feishu's push protocol as pure functions. Verify, decrypt, parse, validate, dispatch; and
// the Feishu side (seal) for the emulator and tests. No I/O, no Koa, no database.
export {
  type AppTicketPayload,
  type CardActionTriggerPayload,
  type EcoAccountCreatedPayload,
  type EcoExamCreatedPayload,
  type EventPayloads,
  eventCatalog,
  isKnownEventType,
  type KnownEventType,
} from './catalog.js';
export {
  computeSignature,
  type DecryptFailure,
  type DecryptResult,
  decryptPayload,
  encryptPayload,
} from './crypto.js';
export {
  type DispatchOutcome,
  EventDispatcher,
  type EventHandler,
  type HandlerFailure,
} from './dispatcher.js';
export { type ParseError, type ParseErrorCode, parseErrorCatalog } from './errors.js';
export type { EventMeta, EventOf, EventType, FeishuEvent, KnownEvent, UnknownEvent } from './event.js';
export {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_TOLERANCE_SECONDS,
  MAX_FUTURE_SKEW_SECONDS,
  type ParseResult,
  type ParseSecrets,
  parse,
  type WireRequest,
} from './parse.js';
export {
  type EnvelopeFields,
  envelopeV1,
  envelopeV2,
  type SealedRequest,
  type SealSecrets,
  seal,
  signatureHeaders,
  urlVerificationBody,
} from './seal.js';
