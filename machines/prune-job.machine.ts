/** Prune: select what the keep rules keep, then remove the rest. Phases and task handling come from job.machine.ts. */
import type { ActorRefFrom } from 'xstate';
import { createJobMachine } from './job.machine.ts';

export const pruneJobMachine = createJobMachine('prune', ['selecting', 'removing']);
export type PruneJobActor = ActorRefFrom<typeof pruneJobMachine>;
