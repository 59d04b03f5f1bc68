import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../logging/audit.js';
import { auditQuery } from './route-schemas.js';

/**
 * GET /_security/audit: this node's latest audit events, newest first, filtered
 * by `user` and `event`, `size` of them (100 unless asked, 1,000 at most). It
 * manages security, so it needs an endpoint permission (a superuser has it).
 */
export function registerAuditRoute(app: FastifyInstance, audit: AuditLog): void {
  if (!audit.latest) return;
  const latest = audit.latest.bind(audit);
  app.get<{ Querystring: { user?: string; event?: string; size?: string } }>(
    '/_security/audit',
    {
      schema: { querystring: auditQuery },
    },
    async (request) => {
      const { user, event, size } = request.query;
      return { events: await latest({ ...(user ? { user } : {}), ...(event ? { event } : {}), size: Math.min(Number(size ?? 100) || 100, 1_000) }) };
    },
  );
}
