#!/usr/bin/env node
// The example MCP server on its own: GATEHOUSE_ISSUER=http://localhost:3000 MCP_RESOURCE=http://localhost:8083 node examples/mcp-server/main.ts
import { startMcpServer } from './server.ts';

const env = process.env;
const resource = env.MCP_RESOURCE ?? 'http://localhost:8083';
const server = await startMcpServer({
  issuer: env.GATEHOUSE_ISSUER ?? 'http://localhost:3000',
  resource,
  port: Number(env.PORT ?? (new URL(resource).port || 8083)),
  ...(env.HOST ? { host: env.HOST } : {}),
  ...(env.MCP_SCOPE ? { scope: env.MCP_SCOPE } : {}),
  allowedOrigins: (env.ALLOWED_ORIGINS ?? '').split(',').filter(Boolean),
});
console.log(`example MCP server: ${server.url} (resource ${server.resource}, metadata ${server.resourceMetadataUrl})`);
process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
