import { open } from 'node:fs/promises';
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
  /** The latest events, newest first, filtered by user and event; none for a log kept nowhere. */
  latest?(filter: { user?: string; event?: string; size: number }): Promise<Record<string, unknown>[]>;
}

/** How much of the end of the audit log a read looks at: the latest events, not the whole history. */
const tailBytes = 4 * 1024 * 1024;

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
    async latest({ user, event, size }) {
      const handle = await open(file, 'r');
      try {
        const { size: length } = await handle.stat();
        const start = Math.max(0, length - tailBytes);
        const { buffer, bytesRead } = await handle.read(Buffer.alloc(length - start), 0, length - start, start);
        // A read that starts mid-file drops its first, partial line.
        const lines = buffer.subarray(0, bytesRead).toString('utf8').split('\n').slice(start > 0 ? 1 : 0);
        const events: Record<string, unknown>[] = [];
        for (let index = lines.length - 1; index >= 0 && events.length < size; index--) {
          let entry: Record<string, unknown>;
          try {
            entry = JSON.parse(lines[index]!) as Record<string, unknown>;
          } catch {
            continue;
          }
          if ((user === undefined || entry.user === user) && (event === undefined || entry.event === event)) events.push(entry);
        }
        return events;
      } finally {
        await handle.close();
      }
    },
  };
}
