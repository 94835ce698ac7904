const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Text that a uuid column accepts: any other id names no row, rather than raising a cast error. */
export const isUuid = (s: string): boolean => UUID.test(s);
