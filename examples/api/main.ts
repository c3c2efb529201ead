#!/usr/bin/env node
// The example API on its own: GATEHOUSE_ISSUER=http://localhost:3000 API_AUDIENCE=http://localhost:8082 node examples/api/main.ts
import { startApi } from './server.ts';

const env = process.env;
const api = await startApi({
  issuer: env.GATEHOUSE_ISSUER ?? 'http://localhost:3000',
  audience: env.API_AUDIENCE ?? 'http://localhost:8082',
  port: Number(env.PORT ?? 8082),
  allowedOrigins: (env.ALLOWED_ORIGINS ?? 'http://localhost:8081').split(',').filter(Boolean),
});
console.log(`example API listening at ${api.url}`);
process.on('SIGINT', () => void api.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void api.close().then(() => process.exit(0)));
