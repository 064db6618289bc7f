/** The one pino root of a process; actors and routes take children of it. */
import pino, { type Logger } from 'pino';

export function createRootLogger(level: string, name: string): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: ['password', '*.password', 'secret', '*.secret', 'authorization', '*.authorization', 'ticket', '*.ticket'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
