import { chmod, open } from 'node:fs/promises';
import { join } from 'node:path';
import { destination, multistream, pino, stdTimeFunctions, type Logger } from 'pino';
import { makeDirectory } from '../io/atomic-write.js';

/** A log file in the logs dir (0750), created 0640 whatever the umask; its path. */
export async function createLogFile(logsDir: string, name: string): Promise<string> {
  await makeDirectory(logsDir, 0o750);
  const file = join(logsDir, name);
  const handle = await open(file, 'a', 0o640);
  await handle.close();
  await chmod(file, 0o640);
  return file;
}

/**
 * The node's logger: JSON lines to logs/securenode.log (0640, created with that
 * mode whatever the umask), and to stdout as JSON lines or, with `format:
 * 'text'` (a terminal's default), one readable line each, by pino-pretty.
 * Secrets never enter a log call: the callers log names, paths and counts,
 * never values.
 */
export async function createLogger(logsDir: string, options: { stdout?: NodeJS.WritableStream; level?: string; format?: 'json' | 'text'; color?: boolean } = {}): Promise<Logger> {
  const file = await createLogFile(logsDir, 'securenode.log');
  const stdout = options.stdout ?? process.stdout;
  // pino-pretty (29 modules) is loaded only for a terminal's readable lines.
  const output =
    options.format === 'text'
      ? (await import('pino-pretty')).default({ destination: stdout, sync: true, colorize: options.color ?? false, singleLine: true, translateTime: 'SYS:HH:MM:ss.l' })
      : stdout;
  const level = options.level ?? 'info';
  const streams = [{ level, stream: destination({ dest: file, sync: true }) }, { level, stream: output }] as Parameters<typeof multistream>[0];
  return pino({ level, base: undefined, timestamp: stdTimeFunctions.isoTime }, multistream(streams));
}
