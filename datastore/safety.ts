/**
 * Every timing margin that protects data lives here, with the reason for it.
 * Code takes a `SafetyParameters` (default `SAFETY_FULL`) so tests can use
 * `SAFETY_NONE` instead of waiting. Durations are milliseconds.
 */
export interface SafetyParameters {
  /**
   * GC sweeps only chunks whose atime is older than phase-1 start minus this.
   * Filesystems mounted `relatime` update atime at most once a day, so a
   * chunk touched in phase 1 may still show an atime up to 24 h old.
   */
  readonly gcAtimeGraceMs: number;
  /** Extra margin on the GC cutoff for clock steps and slow touches. */
  readonly gcCutoffSlackMs: number;
  /**
   * A client's `backup-time` may be at most this far ahead of the server's
   * clock: a far-future snapshot would otherwise push real ones out of
   * retention at the next prune.
   */
  readonly maxBackupTimeSkewMs: number;
  /** How long digests stored by an interrupted session stay offered to the next one. */
  readonly resumeDigestTtlMs: number;
}

export const SAFETY_FULL: SafetyParameters = {
  gcAtimeGraceMs: 24 * 3600 * 1000,
  gcCutoffSlackMs: 5 * 60 * 1000,
  maxBackupTimeSkewMs: 5 * 60 * 1000,
  resumeDigestTtlMs: 24 * 3600 * 1000,
};

/** For tests only: no grace anywhere. */
export const SAFETY_NONE: SafetyParameters = {
  gcAtimeGraceMs: 0,
  gcCutoffSlackMs: 0,
  maxBackupTimeSkewMs: 0,
  resumeDigestTtlMs: 0,
};
