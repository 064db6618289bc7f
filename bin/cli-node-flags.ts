/**
 * Node flags the command-line tools (bulwark-client, bulwark-manager) run
 * with: their shebang lines, the CLI bundle's (scripts/build-client.ts) and
 * the test helpers that spawn them all pass these.
 *
 * `--single-threaded` keeps V8 from running compilations and garbage
 * collection on background threads. Node 20 can deadlock at exit otherwise:
 * once the event loop is empty the main thread waits for every background
 * task to finish, while an optimizing compile on a background thread waits
 * for the main thread to collect garbage (nodejs/node#54918, still open),
 * so a backup or restore that has done all its work never exits; seen here
 * once in some hundred restores. The CLI's own threads (decode, encode and
 * write workers) are unaffected, and restore and backup times measured
 * with and without the flag are the same within noise.
 */
export const CLI_NODE_FLAGS: readonly string[] = ['--single-threaded'];
