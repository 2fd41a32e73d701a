/**
 * Configuration problems of samplers. Sampler constructors are plain functions, so a bad argument
 * (a rate of 2, a rule without a sampler) is remembered here and reported by `Telemetry.layer` as a
 * `TelemetryConfigError` naming the `sampler` option and the value.
 *
 * @internal
 */

/** Why a sampler cannot be used. */
export interface Issue {
  readonly value: unknown
  readonly reason: string
}

const issues = new WeakMap<object, Issue>()

/** The configuration problem of `sampler`, if it has one. */
export const issueOf = (sampler: object): Issue | undefined => issues.get(sampler)

/** Records the configuration problem of `sampler`. */
export const setIssue = (sampler: object, issue: Issue): void => {
  issues.set(sampler, issue)
}
