/** The ceiling for one Node process on this machine: a plain node:http server answering "hello". */
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 0);
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '6' }).end('hello\n');
});
server.listen(port, '127.0.0.1', () => console.log(`hello listening on ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
