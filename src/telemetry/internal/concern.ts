/**
 * Transitional: the concerns not yet moved to `src/internal/concern.ts` still import `Concern` from here.
 *
 * @internal
 */
import type { Concern as Base } from "../../internal/concern.ts"
import type { TelemetryOptions } from "../Telemetry.ts"

export type { Installed } from "../../internal/concern.ts"

/** A concern reading the whole `TelemetryOptions`. */
export type Concern = Base<TelemetryOptions>
