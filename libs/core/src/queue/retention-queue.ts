/** The worker's scheduled housekeeping: expire old recordings, remove objects no row needs. */
export const RETENTION_QUEUE = 'retention';
/** One scheduler per deployment: every worker upserts the same id, and one of them runs each pass. */
export const RETENTION_SCHEDULER_ID = 'retention-sweep';
export const RETENTION_JOB = 'sweep';
