/** Exact decimal sums of amount strings: integer arithmetic on BigInt at the largest scale seen, no float drift. */

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

export class DecimalSum {
  private units = 0n;
  private scale = 2;

  /** Adds a decimal string ("-12.5", "3", "0.105"); throws on anything else. */
  add(amount: string): this {
    const m = DECIMAL.exec(amount.trim());
    if (!m) throw new Error(`not a decimal amount: ${JSON.stringify(amount)}`);
    const frac = m[3] ?? '';
    if (frac.length > this.scale) {
      this.units *= 10n ** BigInt(frac.length - this.scale);
      this.scale = frac.length;
    }
    const value = BigInt(`${m[2]}${frac.padEnd(this.scale, '0')}`);
    this.units += m[1] === '-' ? -value : value;
    return this;
  }

  /** The sum with at least two decimals ("12.50", "-0.105"). */
  toString(): string {
    const negative = this.units < 0n;
    const digits = (negative ? -this.units : this.units).toString().padStart(this.scale + 1, '0');
    const body = `${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}`;
    return negative ? `-${body}` : body;
  }
}

/** The absolute value of a decimal string. */
export function magnitude(amount: string): string {
  return amount.startsWith('-') || amount.startsWith('+') ? amount.slice(1) : amount;
}
