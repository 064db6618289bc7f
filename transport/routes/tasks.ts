/**
 * Tasks under /nodes/{node}/tasks, in PBS's shapes:
 * - `GET tasks` lists newest first with `start`, `limit`, `running`, `errors`, `since`, `until`,
 *   `typefilter`, `userfilter`, `statusfilter` and the virtual `total`;
 * - `GET tasks/{upid}/status` gives `status` running|stopped and `exitstatus`;
 * - `GET tasks/{upid}/log` pages the log as `{n, t}` lines with `total`;
 * - `DELETE tasks/{upid}` asks a running task to stop.
 * A user sees their own tasks (and those of their tokens); Sys.Audit on
 * /system/tasks sees all, Sys.Modify may stop any.
 */
import { parseUpid } from '../../actors/tasks/upid.ts';
import type { TaskStatus } from '../../actors/tasks/task-index.ts';
import { ownsGroup } from '../../auth/acl.ts';
import { bulwarkError } from '../../errors.ts';
import { apiRoute, WithMeta } from '../http-api.ts';
import { requestParams } from '../params.ts';
import type { TemplatedApp } from '../uws.ts';
import { authenticated, authenticatedWrite, jobService, type ApiContext } from '../api-context.ts';

const TASKS_PATH = '/system/tasks';
const STATUSES: readonly TaskStatus[] = ['running', 'ok', 'warning', 'error', 'aborted'];

/** A task started by `authid`, or by one of its tokens when `authid` is a user. */
const ownTask = (taskUser: string, authid: string): boolean => ownsGroup(taskUser, authid);

function checkNode(ctx: ApiContext, node: string): void {
  const ours = jobService(ctx).tasks.node;
  if (node !== 'localhost' && node !== ours) throw bulwarkError('BULWARK_NOT_FOUND', `node ${node}`);
}

function taskAccess(ctx: ApiContext, authid: string, upidText: string, need: 'Sys.Audit' | 'Sys.Modify'): void {
  const upid = parseUpid(upidText);
  if (ownTask(upid.authId, authid)) return;
  ctx.auth.check(authid, TASKS_PATH, need);
}

export function taskRoutes(app: TemplatedApp, ctx: ApiContext): void {
  apiRoute(app, ctx.log, 'get', '/nodes/:node/tasks', async (req) => {
    const { authid } = authenticated(ctx, req);
    checkNode(ctx, req.params.node!);
    const p = requestParams(req);
    const all = ctx.auth.privileges(authid, TASKS_PATH).has('Sys.Audit');
    const statusfilter = p.string('statusfilter')?.split(',').filter(Boolean);
    for (const s of statusfilter ?? []) if (!STATUSES.includes(s as TaskStatus)) throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'statusfilter', `${s} is not one of ${STATUSES.join(', ')}`);
    const userfilter = p.string('userfilter');
    const since = p.int('since', { min: 0 });
    const until = p.int('until', { min: 0 });
    const typefilter = p.string('typefilter');
    const list = await jobService(ctx).tasks.list({
      start: p.int('start', { min: 0 }) ?? 0,
      limit: p.int('limit', { min: 0 }) ?? 50,
      running: p.bool('running') ?? false,
      errors: p.bool('errors') ?? false,
      ...(since !== undefined && { since }),
      ...(until !== undefined && { until }),
      ...(typefilter && { type: typefilter }),
      // Without Sys.Audit the list is narrowed to the caller's own tasks (a substring match, so tokens' tasks show too).
      ...(all ? userfilter && { user: userfilter } : { user: authid }),
      ...(statusfilter && { status: statusfilter as TaskStatus[] }),
    });
    const tasks = list.tasks.filter((t) => all || ownTask(t.user, authid)).map((t) => {
      const u = parseUpid(t.upid);
      return {
        upid: t.upid, node: t.node, pid: u.pid, pstart: u.pstart, starttime: t.starttime,
        worker_type: t.type, ...(t.id !== undefined && { worker_id: t.id }), user: t.user,
        ...(t.endtime !== undefined && { endtime: t.endtime }), ...(t.exitstatus !== undefined && { status: t.exitstatus }),
      };
    });
    return new WithMeta(tasks, { total: list.total });
  });

  apiRoute(app, ctx.log, 'get', '/nodes/:node/tasks/:upid/status', async (req) => {
    const { authid } = authenticated(ctx, req);
    checkNode(ctx, req.params.node!);
    taskAccess(ctx, authid, req.params.upid!, 'Sys.Audit');
    return jobService(ctx).tasks.status(req.params.upid!);
  });

  apiRoute(app, ctx.log, 'get', '/nodes/:node/tasks/:upid/log', async (req) => {
    const { authid } = authenticated(ctx, req);
    checkNode(ctx, req.params.node!);
    const upid = req.params.upid!;
    taskAccess(ctx, authid, upid, 'Sys.Audit');
    const p = requestParams(req);
    const tasks = jobService(ctx).tasks;
    const page = await tasks.readLog(upid, { start: p.int('start', { min: 0 }) ?? 0, limit: p.int('limit', { min: 0 }) ?? 50 });
    const active = (await tasks.status(upid)).status === 'running';
    return new WithMeta(page.lines, { total: page.total, active });
  });

  apiRoute(app, ctx.log, 'del', '/nodes/:node/tasks/:upid', async (req) => {
    const { authid } = authenticatedWrite(ctx, req);
    checkNode(ctx, req.params.node!);
    const upid = req.params.upid!;
    taskAccess(ctx, authid, upid, 'Sys.Modify');
    const jobs = jobService(ctx);
    const status = await jobs.tasks.status(upid);
    if (status.status !== 'running') throw bulwarkError('BULWARK_INVALID_ARGUMENT', 'upid', 'the task is not running');
    jobs.abort(upid);
    return null;
  });
}
