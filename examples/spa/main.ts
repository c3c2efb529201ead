#!/usr/bin/env node
// The single-page app's static server on its own:
//   GATEHOUSE_ISSUER=http://localhost:3000 CLIENT_ID=… API_URL=http://localhost:8082 node examples/spa/main.ts
import { startSpa } from './server.ts';

const env = process.env;
if (!env.CLIENT_ID) {
  console.error('set CLIENT_ID (from `npx gatehouse clients add --public`, see examples/spa/README.md)');
  process.exit(2);
}
const apiUrl = env.API_URL ?? 'http://localhost:8082';
const spa = await startSpa({
  issuer: env.GATEHOUSE_ISSUER ?? 'http://localhost:3000',
  clientId: env.CLIENT_ID,
  api: { url: apiUrl, resource: env.API_AUDIENCE ?? apiUrl },
  port: Number(env.PORT ?? 8081),
});
console.log(`example single-page app at ${spa.url}`);
process.on('SIGINT', () => void spa.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void spa.close().then(() => process.exit(0)));
