/**
 * Authentication and authorization: every /v1 route declares the role it needs in its
 * route config (`config: { role: 'read' | 'write' | 'admin' }`); this plugin turns the
 * request's bearer token into a Principal (its project and role) before anything else runs,
 * and refuses the request when the token is missing (401), unknown (401) or too weak (403).
 * Routes without a role (health, metrics, docs, the OpenAPI document) are public.
 *
 * With no tokens configured, auth is off: every request acts in the default project as
 * admin, and server.ts only listens on loopback.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors.js';
import { roleAllows, TokenTable, type Principal, type Role } from '../../tokens.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role a route needs; unset: public. */
    role?: Role;
  }
  interface FastifyRequest {
    /** Who the request acts as; set on every route that needs a role. */
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** Whether bearer tokens are required (false: auth off, loopback only). */
    authEnabled: boolean;
  }
}

/** The bearer token of a request, or null when there is none. */
export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

async function authPlugin(app: FastifyInstance): Promise<void> {
  const table = TokenTable.fromConfig(app.config);
  const anonymous: Principal = { name: 'anonymous', project: app.config.defaultProject, role: 'admin' };
  app.decorate('authEnabled', table !== null);
  app.decorateRequest('principal', null);

  app.addHook('onRequest', async (request, reply) => {
    const needed = request.routeOptions.config?.role;
    if (!needed) return;
    if (!table) {
      request.principal = anonymous;
      return;
    }
    const token = bearerToken(request);
    if (token === null) {
      reply.header('www-authenticate', 'Bearer realm="ph5"');
      throw new errors.Unauthorized('This API needs a bearer token: send Authorization: Bearer <token>.');
    }
    const principal = table.lookup(token);
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="ph5", error="invalid_token"');
      throw new errors.BadToken('The bearer token is not valid.');
    }
    if (!roleAllows(principal.role, needed)) {
      throw new errors.Forbidden(`This needs the '${needed}' role; the token has '${principal.role}'.`);
    }
    request.principal = principal;
  });
}

export default fp(authPlugin, { name: 'auth', dependencies: ['config'] });
