// (b) The official SDK's Koa adapter with an empty handler: verify, decrypt, dispatch; no storage.
import * as lark from '@larksuiteoapi/node-sdk';
import Koa from 'koa';

const quiet = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
const dispatcher = new lark.EventDispatcher({
  encryptKey: process.env.FEISHU_ENCRYPT_KEY,
  verificationToken: process.env.FEISHU_VERIFICATION_TOKEN,
  logger: quiet,
}).register({ 'hire.eco_exam.created_v1': async () => {} });
const app = new Koa();
app.use(lark.adaptKoa('/webhook/event', dispatcher, { autoChallenge: true }));
const server = app.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`),
);
