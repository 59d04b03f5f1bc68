import { destination } from 'pino';
import { createLogFile } from './logger.js';

/** Who did it, from where, in which request; for events outside a request, all optional. */
export interface AuditContext {
  readonly user?: string;
  readonly source?: string;
  readonly requestId?: string;
}

/** logs/audit.log: one JSON line per security event. */
export interface AuditLog {
  record(event: string, context: AuditContext, fields?: Record<string, unknown>): void;
}

/** For embedders that keep no audit trail. */
export const noAudit: AuditLog = { record() {} };

/**
 * The audit log (SPEC 7): JSON lines in logs/audit.log (0640, created with that
 * mode whatever the umask), each with the time, the event, the user, the source
 * address and the request id. Callers pass names and ids, never a secret.
 */
export async function createAuditLog(logsDir: string): Promise<AuditLog> {
  const file = await createLogFile(logsDir, 'audit.log');
  // Written synchronously: an audit line must not be lost to a crash.
  const stream = destination({ dest: file, sync: true });
  return {
    record(event, context, fields = {}) {
      stream.write(`${JSON.stringify({ time: new Date().toISOString(), event, user: context.user ?? null, source: context.source ?? null, request_id: context.requestId ?? null, ...fields })}\n`);
    },
  };
}
