/** JSON calls to a test server's /api2/json over HTTPS on loopback (self-signed certificate accepted). */
import { request } from 'node:https';

export interface ApiReply<T = unknown> {
  readonly status: number;
  readonly body: { data?: T; total?: number; active?: boolean; code?: string; message?: string; errors?: Record<string, string> };
}

export function apiCall<T = unknown>(port: number, method: string, path: string, opts: { headers?: Record<string, string>; json?: unknown; form?: Record<string, string | number> } = {}): Promise<ApiReply<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let payload: string | undefined;
  if (opts.json !== undefined) {
    payload = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  } else if (opts.form !== undefined) {
    payload = new URLSearchParams(Object.entries(opts.form).map(([k, v]): [string, string] => [k, String(v)])).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: `/api2/json${path}`, headers, rejectUnauthorized: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as ApiReply<T>['body'] });
        } catch {
          reject(new Error(`not JSON (${res.statusCode}): ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export const tokenHeader = (tokenid: string, secret: string): Record<string, string> => ({ authorization: `PBSAPIToken=${tokenid}:${secret}` });
