/**
 * jsonb as PostgreSQL writes it, against canonical JSON text, compared on the bytes: for the
 * common case (a scalar, or an object whose values are scalars) there is no parse and no string.
 */
export class FlatJsonb {
  private readonly ks = new Int32Array(64);
  private readonly ke = new Int32Array(64);
  private readonly vs = new Int32Array(64);
  private readonly ve = new Int32Array(64);
  private readonly order = new Int32Array(64);

  /**
   * jsonb's text in b[a..z), a scalar or an object with scalar values (`{"k": v, "k2": v2}`, keys
   * ordered by length, then bytes), against the canonical text at b[p..end) (`{"k":v,"k2":v2}`,
   * keys in code-unit order): the key and value tokens are sorted and compared as bytes. Returns
   * the index just after the canonical value, or -1. Equal bytes are equal values; where the
   * forms could differ (a number written another way, an escape, a key order that differs
   * between UTF-8 and UTF-16) the bytes differ and this answers -1, leaving it to the parse.
   */
  match(b: Buffer, a: number, z: number, p: number, end: number): number {
    if (b[a] !== 0x7b) {
      if (b[a] === 0x5b) return -1; // arrays: jsonb writes ", " between items
      const len = z - a;
      if (p + len > end) return -1;
      for (let j = 0; j < len; j++) if (b[a + j] !== b[p + j]) return -1;
      return p + len;
    }
    let n = 0;
    let q = a + 1;
    if (b[q] !== 0x7d) {
      for (;;) {
        if (n === 64 || b[q] !== 0x22) return -1;
        this.ks[n] = q;
        q = endOfString(b, q, z);
        this.ke[n] = q;
        if (b[q] !== 0x3a || b[q + 1] !== 0x20) return -1;
        q += 2;
        this.vs[n] = q;
        const c = b[q];
        if (c === 0x7b || c === 0x5b) return -1; // nested: key order and spacing inside it differ
        q = c === 0x22 ? endOfString(b, q, z) : endOfScalar(b, q, z);
        this.ve[n] = q;
        n++;
        if (b[q] === 0x7d) break;
        if (b[q] !== 0x2c || b[q + 1] !== 0x20) return -1;
        q += 2;
      }
    }
    if (q + 1 !== z) return -1;
    // Insertion sort of the keys by their bytes, inside the quotes (UTF-8 byte order is code point order).
    const { order, ks, ke } = this;
    for (let x = 0; x < n; x++) {
      let y = x;
      while (y > 0 && bytesLess(b, ks[x] + 1, ke[x] - 1, ks[order[y - 1]] + 1, ke[order[y - 1]] - 1)) {
        order[y] = order[y - 1];
        y--;
      }
      order[y] = x;
    }
    let r = p;
    if (r >= end || b[r++] !== 0x7b) return -1;
    for (let x = 0; x < n; x++) {
      const o = order[x];
      if (x > 0 && b[r++] !== 0x2c) return -1;
      r = sameBytes(b, ks[o], ke[o], r, end);
      if (r < 0 || b[r++] !== 0x3a) return -1;
      r = sameBytes(b, this.vs[o], this.ve[o], r, end);
      if (r < 0) return -1;
    }
    if (r >= end || b[r++] !== 0x7d) return -1;
    return r;
  }
}

/** Index just past the JSON string starting at q (a quote); z if it does not end. */
function endOfString(b: Buffer, q: number, z: number): number {
  for (q++; q < z; q++) {
    const c = b[q];
    if (c === 0x5c) q++;
    else if (c === 0x22) return q + 1;
  }
  return z;
}

/** Index of the , or } that ends the number, true, false or null starting at q. */
function endOfScalar(b: Buffer, q: number, z: number): number {
  while (q < z && b[q] !== 0x2c && b[q] !== 0x7d) q++;
  return q;
}

/** b[a1..z1) sorts before b[a2..z2) bytewise. */
function bytesLess(b: Buffer, a1: number, z1: number, a2: number, z2: number): boolean {
  for (; a1 < z1 && a2 < z2; a1++, a2++) if (b[a1] !== b[a2]) return b[a1] < b[a2];
  return z1 - a1 < z2 - a2;
}

/** b[a..z) equals the bytes at r (not past end): the index after them, or -1. */
function sameBytes(b: Buffer, a: number, z: number, r: number, end: number): number {
  if (r + (z - a) > end) return -1;
  for (; a < z; a++, r++) if (b[a] !== b[r]) return -1;
  return r;
}
