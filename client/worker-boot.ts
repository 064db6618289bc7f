import { Worker } from 'node:worker_threads';
import { bulwarkError } from '../errors.ts';

/**
 * The eval source that starts a worker thread on a module. Workers do not
 * inherit `--import tsx`: a `.ts` body gets tsx's loader registered first;
 * a compiled body (the `.mjs` files of dist/, scripts/build-client.ts)
 * loads as it is, without paying for tsx.
 */
export function workerSource(url: URL): string {
  const body = `import(${JSON.stringify(url.href)})`;
  if (!url.pathname.endsWith('.ts')) return body;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return ${body}; })`;
}

export interface PoolWorkerOptions<M> {
  readonly workerData?: unknown;
  onMessage(message: M): void;
  /** A crash, or an exit nobody asked for, as BULWARK_INTERNAL naming the worker. */
  onFailure(err: Error): void;
  /** True once the pool is closing: an exit then is expected. */
  closing(): boolean;
}

/** A pool's worker thread on `url`, unreferenced (an idle pool never keeps the process alive). */
export function startPoolWorker<M>(url: URL, what: string, opts: PoolWorkerOptions<M>): Worker {
  const worker = new Worker(workerSource(url), { eval: true, ...(opts.workerData !== undefined && { workerData: opts.workerData }) });
  worker.on('message', (m: M) => opts.onMessage(m));
  worker.on('error', (err) => opts.onFailure(bulwarkError('BULWARK_INTERNAL', `${what} failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => {
    if (!opts.closing()) opts.onFailure(bulwarkError('BULWARK_INTERNAL', `${what} exited with code ${code}`));
  });
  worker.unref();
  return worker;
}
