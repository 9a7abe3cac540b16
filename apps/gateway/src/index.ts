// The gateway as a library, for tests and the demo: the same pieces main.ts wires together.
export { type ConfigResult, describeConfig, type GatewayConfig, loadConfig } from './config.js';
export { createEventDispatcher } from './events/index.js';
export { createApp } from './http/app.js';
export { createLogger, maskEmail, maskPhone } from './log.js';
export { type RunningGateway, startGateway } from './server.js';
