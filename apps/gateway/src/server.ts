// The gateway's lifecycle: build, listen, and shut down gracefully (not ready → stop listening → drain).

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from './config.js';
import { createEventDispatcher } from './events/index.js';
import { createApp } from './http/app.js';
import type { Logger } from './log.js';

export interface RunningGateway {
  readonly url: string;
  readonly server: Server;
  /** Stops taking requests, lets in-flight ones finish, then resolves. Idempotent. */
  close(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, log: Logger): Promise<RunningGateway> {
  let ready = false;
  const app = createApp({
    log,
    isReady: () => ready,
    maxBodyBytes: config.maxBodyBytes,
    dispatcher: createEventDispatcher(),
    secrets: {
      encryptKey: config.encryptKey,
      verificationToken: config.verificationToken,
      toleranceSeconds: config.signatureToleranceSeconds,
      maxBodyBytes: config.maxBodyBytes,
    },
  });

  const server = app.listen({ host: config.host, port: config.port });
  // Feishu waits 3 s for an answer; a request that stalls for longer is a client problem, not ours.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  ready = true;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        ready = false;
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
