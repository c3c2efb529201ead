// rate-limiter-flexible documents RateLimiterStoreAbstract as the base of custom stores but exports
// it only from its own file; its types live in the package's main declaration.
declare module 'rate-limiter-flexible/lib/RateLimiterStoreAbstract.js' {
  import type { RateLimiterStoreAbstract } from 'rate-limiter-flexible';

  const StoreAbstract: typeof RateLimiterStoreAbstract;
  export default StoreAbstract;
}
