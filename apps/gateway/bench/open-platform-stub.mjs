// A minimal Open Platform for the gateway's outbox during the benchmark: tokens and card sends, instantly.
import { createServer } from 'node:http';

let n = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/_cards') return res.end(JSON.stringify({ posted: n }));
    if (req.url.includes('/auth/v3/'))
      return res.end(JSON.stringify({ code: 0, msg: 'ok', tenant_access_token: 't-bench', expire: 7200 }));
    res.end(JSON.stringify({ code: 0, msg: 'success', data: { message_id: `om_${++n}` } }));
  });
});
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`),
);
