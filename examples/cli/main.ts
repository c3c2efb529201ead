#!/usr/bin/env node
// The example CLI: signs a person in with the device flow and calls the example API.
//   GATEHOUSE_ISSUER=http://localhost:3000 CLIENT_ID=… API_URL=http://localhost:8082 node examples/cli/main.ts
import { failureLine, signInAndCallApi } from './sign-in.ts';

const env = process.env;
if (!env.CLIENT_ID) {
  console.error('set CLIENT_ID (from `npx gatehouse clients add --public --grant-type urn:ietf:params:oauth:grant-type:device_code`, see examples/cli/README.md)');
  process.exit(2);
}
try {
  await signInAndCallApi({
    issuer: env.GATEHOUSE_ISSUER ?? 'http://localhost:3000',
    clientId: env.CLIENT_ID,
    ...(env.CLIENT_SECRET ? { clientSecret: env.CLIENT_SECRET } : {}),
    apiUrl: env.API_URL ?? 'http://localhost:8082',
    audience: env.API_AUDIENCE ?? env.API_URL ?? 'http://localhost:8082',
    ...(env.SCOPE ? { scope: env.SCOPE } : {}),
    print: (line) => console.log(line),
  });
} catch (error) {
  console.error(failureLine(error));
  process.exit(1);
}
