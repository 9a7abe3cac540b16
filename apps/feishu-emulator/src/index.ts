// feishu-emulator: a local stand-in for the Feishu Open Platform, for tests and the demo. It serves the
// APIs the gateway calls (tokens, messages, hire eco), records every call, injects faults, and pushes
// events and card clicks to a gateway the way Feishu does.
export {
  approvalCardUuid,
  type CallbackAnswerCheck,
  type CardCheck,
  checkCallbackAnswer,
  checkCard,
  checkCardObject,
} from './cards.js';
export { DELIVERY_TIMEOUT_MS, type Delivery, deliver } from './deliver.js';
export { FaultInjector, type FaultKind, type Outage } from './faults.js';
export { FeishuCode, failure, success } from './feishu-errors.js';
export { type GatewayProcess, startGatewayProcess } from './gateway-process.js';
export { decodeFrame, encodeFrame, type Frame, type FrameHeader, FrameMethod, headerValue } from './pbbp2.js';
export { FEISHU_RETRY_SCHEDULE, type PushAttempt, type PushOptions, pushEvent } from './push.js';
export {
  type Click,
  createEmulator,
  type EmulatedApp,
  type Emulator,
  type EmulatorOptions,
  type Message,
  type PushFields,
  type RecordedCall,
  type RunningEmulator,
  SELF_BUILT_TENANT,
} from './server.js';
export {
  ACK_TIMEOUT_MS,
  type ClientConfig,
  type ConnectionInfo,
  createLongConnectionServer,
  FEISHU_CLIENT_CONFIG,
  LONG_CONNECTION,
  type LongConnectionServer,
  type WsDeliveryAttempt,
} from './ws-server.js';
