/** Garbage collection: mark (touch every referenced chunk), then sweep (remove what the cutoff allows). Phases and task handling come from job.machine.ts. */
import type { ActorRefFrom } from 'xstate';
import { createJobMachine } from './job.machine.ts';

export const gcJobMachine = createJobMachine('gc', ['marking', 'sweeping']);
export type GcJobActor = ActorRefFrom<typeof gcJobMachine>;
