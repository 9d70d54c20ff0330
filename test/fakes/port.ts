/** The public surface of an adapter class: what a fake must offer so a service cannot tell it apart. */
export type Port<T> = Pick<T, keyof T>;

/** Hands a fake to a service's constructor in place of the adapter; `Port<T>` checks the fake against the adapter's real API. */
export function asAdapter<T>(fake: Port<T>): T {
  return fake;
}
