/**
 * HTTP 503 with Retry-After for an answer that is only "unavailable, retry shortly": no
 * data, and every error SERVICE_UNAVAILABLE (a subgraph lost Redis, say). A client or proxy
 * then backs off and retries, as it would not for a 200 carrying errors. An answer with some
 * data keeps its 200: what could be answered was.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';

export function availabilityPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          if (!errors?.length || (data !== null && data !== undefined)) return;
          if (!errors.every((error) => error.extensions?.['code'] === 'SERVICE_UNAVAILABLE')) {
            return;
          }
          const retryAfter = Math.max(
            1,
            ...errors.map((error) => Number(error.extensions?.['retryAfter']) || 1),
          );
          response.http.status = 503;
          response.http.headers.set('retry-after', String(retryAfter));
        },
      };
    },
  };
}
