/**
 * Asking the person at the terminal for a secret, as proxmox-backup-client
 * does: only when stdin is a terminal, not echoed, the prompt on stderr so
 * that stdout stays clean for data.
 */
import { isatty } from 'node:tty';
import { read } from 'read';

/** isatty(0) rather than process.stdin.isTTY, which would open stdin just to ask. */
export const onTerminal = (): boolean => isatty(0);

export const askSecret = (prompt: string): Promise<string> => read({ prompt, silent: true, output: process.stderr });
