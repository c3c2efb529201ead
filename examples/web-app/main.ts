#!/usr/bin/env node
// The example web app on its own:
//   GATEHOUSE_ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… node examples/web-app/main.ts
import { startWebApp } from './app.ts';

const env = process.env;
if (!env.CLIENT_ID || !env.CLIENT_SECRET) {
  console.error('set CLIENT_ID and CLIENT_SECRET (from `npx gatehouse clients add`, see examples/web-app/README.md)');
  process.exit(2);
}
const app = await startWebApp({
  issuer: env.GATEHOUSE_ISSUER ?? 'http://localhost:3000',
  clientId: env.CLIENT_ID,
  clientSecret: env.CLIENT_SECRET,
  port: Number(env.PORT ?? 8080),
});
console.log(`example web app at ${app.url}`);
process.on('SIGINT', () => void app.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
