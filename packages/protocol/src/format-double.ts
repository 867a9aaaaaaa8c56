/**
 * C's printf("%.17g") for a double, as QEMU's JSON writer uses it
 * (glibc: exact decimal expansion, round-half-even, inf/-inf/nan).
 */

const PRECISION = 17;
const view = new DataView(new ArrayBuffer(8));
const pow5Cache = new Map<number, bigint>();

function pow5(k: number): bigint {
  let v = pow5Cache.get(k);
  if (v === undefined) {
    v = 5n ** BigInt(k);
    if (pow5Cache.size < 256) pow5Cache.set(k, v);
  }
  return v;
}

/** Exact decimal digits of a finite positive double: value = digits × 10^pow10. */
function exactDecimal(x: number): { digits: string; pow10: number } {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mant = BigInt(hi & 0xfffff) * 0x100000000n + BigInt(lo);
  let e2: number;
  if (biased === 0) {
    e2 = -1074;
  } else {
    mant += 1n << 52n;
    e2 = biased - 1075;
  }
  if (e2 >= 0) return { digits: (mant << BigInt(e2)).toString(), pow10: 0 };
  return { digits: (mant * pow5(-e2)).toString(), pow10: e2 };
}

/** Rounds a digit string to `p` digits, half to even. Returns digits and whether a carry added a digit. */
function roundDigits(digits: string, p: number): { digits: string; carry: boolean } {
  if (digits.length <= p) return { digits, carry: false };
  const head = digits.slice(0, p);
  const first = digits.charCodeAt(p) - 48;
  let up = false;
  if (first > 5) up = true;
  else if (first === 5) {
    let tail = false;
    for (let i = p + 1; i < digits.length; i++) {
      if (digits.charCodeAt(i) !== 48) {
        tail = true;
        break;
      }
    }
    up = tail || (head.charCodeAt(p - 1) - 48) % 2 === 1;
  }
  if (!up) return { digits: head, carry: false };
  const bumped = (BigInt(head) + 1n).toString();
  return bumped.length > p ? { digits: bumped.slice(0, p), carry: true } : { digits: bumped, carry: false };
}

/** Formats like C's "%.17g". */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const { digits: exact, pow10 } = exactDecimal(Math.abs(x));
  const rounded = roundDigits(exact, PRECISION);
  // decimal exponent of the leading digit
  const exp = exact.length - 1 + pow10 + (rounded.carry ? 1 : 0);
  const sig = rounded.digits.replace(/0+$/, '');
  if (exp < -4 || exp >= PRECISION) {
    const mantissa = sig.length > 1 ? `${sig[0]}.${sig.slice(1)}` : sig;
    const absExp = Math.abs(exp);
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${absExp < 10 ? '0' : ''}${absExp}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${sig}`;
  if (sig.length <= exp + 1) return sign + sig + '0'.repeat(exp + 1 - sig.length);
  return `${sign}${sig.slice(0, exp + 1)}.${sig.slice(exp + 1)}`;
}
