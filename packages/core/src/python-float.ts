/**
 * Python's `repr(float)`: the shortest digits that round-trip, like JavaScript's `String(x)`, but laid
 * out by Python's rules: exponent form when the decimal exponent is below -4 or at least 16 (`1e-05`,
 * `1.5e+16`; at least two exponent digits, always signed), fixed form otherwise with a `.0` on integral
 * values (`2.0`, `0.0001`), and `nan`, `inf`, `-inf` for the non-finite values.
 *
 * For JSON text use `pythonJsonFloat`: `json.dumps` spells the non-finite values differently.
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  return finiteRepr(x);
}

/**
 * A float as Python's `json.dumps` writes it: `repr(float)` for finite values, and `NaN`, `Infinity`,
 * `-Infinity` (the default `allow_nan=True` spelling) for the others.
 */
export function pythonJsonFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  return finiteRepr(x);
}

function finiteRepr(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';

  const sign = x < 0 ? '-' : '';
  const { digits, pointPosition } = shortestDigits(Math.abs(x));
  // Python's repr switches to exponent form when the point sits 4+ places left of the first digit or
  // 17+ places right of it (value < 1e-4 or >= 1e16).
  if (pointPosition < -3 || pointPosition > 16) {
    const exponent = pointPosition - 1;
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expSign = exponent < 0 ? '-' : '+';
    return `${sign}${mantissa}e${expSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (pointPosition <= 0) return `${sign}0.${'0'.repeat(-pointPosition)}${digits}`;
  if (pointPosition >= digits.length) return `${sign}${digits}${'0'.repeat(pointPosition - digits.length)}.0`;
  return `${sign}${digits.slice(0, pointPosition)}.${digits.slice(pointPosition)}`;
}

/**
 * The shortest round-trip decimal digits of a positive finite number (no leading or trailing zeros)
 * and where the decimal point goes: value = 0.DIGITS x 10^pointPosition. ECMAScript's Number-to-string
 * conversion already picks the shortest, closest digits; only its layout differs from Python's.
 */
function shortestDigits(x: number): { digits: string; pointPosition: number } {
  const text = String(x);
  const [mantissa = '', exponentText] = text.split('e');
  const exponent = exponentText === undefined ? 0 : Number(exponentText);
  const dot = mantissa.indexOf('.');
  const intPart = dot < 0 ? mantissa : mantissa.slice(0, dot);
  const fracPart = dot < 0 ? '' : mantissa.slice(dot + 1);
  let digits = intPart + fracPart;
  let pointPosition = intPart.length + exponent;
  const leadingZeros = digits.length - digits.replace(/^0+/, '').length;
  digits = digits.slice(leadingZeros);
  pointPosition -= leadingZeros;
  digits = digits.replace(/0+$/, '');
  return { digits, pointPosition };
}
