/** A moment's id as the api hands it out: a UUID, in either case. Anything else names no moment. */
export const MOMENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
