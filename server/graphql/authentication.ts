import type { Plugin } from 'graphql-yoga';
import type { AuthenticatedOwner } from '../auth/api-tokens.ts';
import type { GraphQLServerContext } from './error-logging.ts';

export const UNAUTHENTICATED_MESSAGE = 'A valid API token is required: send `Authorization: Bearer <token>`.';

/**
 * The API token is checked before anything else about a request is looked at: without a
 * valid one the answer is 401 and nothing more — no parse or validation message (whose "did
 * you mean" suggestions name fields), no document-limit verdict, no cursor check. Yoga's own
 * CORS preflight answers come before this plugin; those carry no data. The owner found is
 * kept for the context (`viewerOf`), so each request looks its token up once.
 */
export function useAuthenticationFirst(
  authenticate: (request: Request) => Promise<AuthenticatedOwner | undefined>,
): { plugin: Plugin; viewerOf: (request: Request) => AuthenticatedOwner | undefined } {
  const viewers = new WeakMap<Request, AuthenticatedOwner>();
  return {
    viewerOf: (request) => viewers.get(request),
    plugin: {
      async onRequest({ request, endResponse, fetchAPI, serverContext }) {
        // The media type yoga would answer with: the GraphQL-over-HTTP one only when asked for.
        const type = request.headers.get('accept')?.includes('application/graphql-response+json')
          ? 'application/graphql-response+json'
          : 'application/json';
        const answer = (status: number, error: object, headers: Record<string, string> = {}) =>
          endResponse(new fetchAPI.Response(JSON.stringify({ errors: [error] }), { status, headers: { 'content-type': `${type}; charset=utf-8`, ...headers } }));
        let viewer: AuthenticatedOwner | undefined;
        try {
          viewer = await authenticate(request);
        } catch (err) {
          // As an error in any resolver: masked, and logged with the request's logger.
          (serverContext as Partial<GraphQLServerContext>).logger?.error({ err }, 'graphql error');
          answer(500, { message: 'Unexpected error.' });
          return;
        }
        if (viewer) {
          viewers.set(request, viewer);
          return;
        }
        answer(401, { message: UNAUTHENTICATED_MESSAGE, extensions: { code: 'UNAUTHENTICATED' } }, { 'www-authenticate': 'Bearer realm="graphql"' });
      },
    },
  };
}
