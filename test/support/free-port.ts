import { unusedPort } from '../../scripts/stack';

/**
 * A TCP port nothing listens on right now, for a server that must come back on the same port: drawn under the
 * kernel's ephemeral range (see `unusedPort`), so no outgoing connection takes it while the server is down.
 */
export function freePort(): Promise<number> {
  return unusedPort('127.0.0.1');
}
