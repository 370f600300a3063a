/**
 * Duration parsing for configuration values.
 *
 * @module
 */

const TIMESPAN = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/;
const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:h|m|s|ms))+$/;
const GO_PART = /(\d+(?:\.\d+)?)(h|ms|m|s)/g;
const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };

/**
 * Parses a duration into seconds: .NET TimeSpan text (`00:05:00`, `1.00:00:00`),
 * Go-style (`5m`, `1h30m`, `90s`, `250ms`) or a plain number of seconds (`300`, 300).
 * Throws an `Error` describing the accepted forms when the text is none of them.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value >= 0) return value;
    throw new Error(`must be a non-negative number of seconds, got ${value}`);
  }
  const text = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text);
  const span = TIMESPAN.exec(text);
  if (span) {
    const [, days = "0", hours, minutes, seconds, fraction = "0"] = span;
    if (Number(minutes) > 59 || Number(seconds) > 59) {
      throw new Error(`"${text}" is not a valid TimeSpan (minutes and seconds go up to 59)`);
    }
    return Number(days) * 86400 + Number(hours) * 3600 + Number(minutes) * 60 +
      Number(seconds) + Number(`0.${fraction}`);
  }
  if (GO_DURATION.test(text)) {
    let total = 0;
    for (const [, amount, unit] of text.matchAll(GO_PART)) {
      total += Number(amount) * UNIT_SECONDS[unit];
    }
    return total;
  }
  throw new Error(
    `"${text}" is not a duration (use seconds like 300, Go style like 5m or 90s, or TimeSpan like 00:05:00)`,
  );
}
