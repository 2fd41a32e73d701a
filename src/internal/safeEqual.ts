/**
 * Comparison of secrets (bearer tokens) in time independent of where they differ, for the endpoints that
 * check one (Prometheus, the dashboard).
 *
 * @internal
 */

const encoder = new TextEncoder()

/** Whether `a` equals `b`, comparing every byte whatever the first difference. */
export const safeEqual = (a: string, b: string): boolean => {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  let diff = x.length ^ y.length
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ (y[i % Math.max(1, y.length)] ?? 0)
  return diff === 0
}
