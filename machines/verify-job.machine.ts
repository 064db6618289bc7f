/** Verify: list the snapshots to check, then re-read and hash their chunks. Phases and task handling come from job.machine.ts. */
import type { ActorRefFrom } from 'xstate';
import { createJobMachine } from './job.machine.ts';

export const verifyJobMachine = createJobMachine('verify', ['listing', 'verifying']);
export type VerifyJobActor = ActorRefFrom<typeof verifyJobMachine>;
