// (a) The ceiling: a bare Koa route that reads the body and answers 200, nothing else.
import Koa from 'koa';

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/webhook/event') return;
  for await (const _chunk of ctx.req);
  ctx.status = 200;
  ctx.body = { code: 0, msg: 'success' };
});
const server = app.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`),
);
