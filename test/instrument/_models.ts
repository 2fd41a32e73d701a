/**
 * A deterministic, in-process model provider built with effect/ai's own constructors (`LanguageModel.make`,
 * `EmbeddingModel.make`, `Model.make`), annotating its spans the way real providers do
 * (`Telemetry.addGenAIAnnotations`: provider, requested model, usage). No network.
 *
 * - `generateText` / `generateObject` answer `text` with `inputTokens` / `outputTokens` of usage (and the
 *   cached and reasoning counts when given); a prompt containing `FAIL` fails with a rate limit error.
 * - `streamText` reports the input tokens when it starts and the output tokens with its `finish` part, as
 *   providers that stream usage do; between them it emits `deltas` text deltas.
 * - `embedMany` answers one vector per input and `inputs.length * 3` input tokens.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { AiError, EmbeddingModel, LanguageModel, Model, type Prompt, Telemetry } from "effect/ai"

/** What the simulated provider answers. */
export interface SimulatedOptions {
  readonly provider?: string
  readonly text?: string
  readonly inputTokens?: number
  readonly outputTokens?: number
  readonly cachedTokens?: number
  readonly reasoningTokens?: number
  /** Text deltas streamed by `streamText` before its finish part. */
  readonly deltas?: number
}

const promptText = (prompt: Prompt.Prompt): string =>
  prompt.content.map((message) =>
    typeof message.content === "string"
      ? message.content
      : message.content.map((part) => ("text" in part ? part.text : "")).join("")
  ).join("\n")

/** The `LanguageModel` of the simulated provider. */
export const simulatedLanguageModel = (
  model: string,
  options: SimulatedOptions = {},
): Effect.Effect<LanguageModel.LanguageModel> => {
  const provider = options.provider ?? "simulated"
  const usage = {
    inputTokens: {
      uncached: undefined,
      total: options.inputTokens ?? 100,
      cacheRead: options.cachedTokens,
      cacheWrite: undefined,
    },
    outputTokens: { total: options.outputTokens ?? 50, text: undefined, reasoning: options.reasoningTokens },
  }
  const fail = (method: string) =>
    AiError.make({
      module: "SimulatedProvider",
      method,
      reason: new AiError.RateLimitError({}),
    })
  return LanguageModel.make({
    generateText: (request) =>
      Effect.suspend(() => {
        Telemetry.addGenAIAnnotations(request.span, {
          provider: { name: provider },
          operation: { name: "chat" },
          request: { model },
        })
        if (promptText(request.prompt).includes("FAIL")) return Effect.fail(fail("generateText"))
        Telemetry.addGenAIAnnotations(request.span, {
          usage: { inputTokens: usage.inputTokens.total, outputTokens: usage.outputTokens.total },
        })
        const text = request.responseFormat.type === "json" ? JSON.stringify({ answer: "42" }) : options.text
        return Effect.succeed([
          { type: "text", text: text ?? "The answer is 42." },
          { type: "finish", reason: "stop", usage },
        ] as Array<never>)
      }),
    streamText: (request) => {
      Telemetry.addGenAIAnnotations(request.span, {
        provider: { name: provider },
        operation: { name: "chat" },
        request: { model },
        usage: { inputTokens: usage.inputTokens.total },
      })
      if (promptText(request.prompt).includes("FAIL")) return Stream.fail(fail("streamText"))
      const deltas = Array.from({ length: options.deltas ?? 3 }, (_, i) => ({
        type: "text-delta",
        id: "t",
        delta: `part ${i} `,
      }))
      return Stream.fromIterable([
        { type: "text-start", id: "t" },
        ...deltas,
        { type: "text-end", id: "t" },
        { type: "finish", reason: "stop", usage },
      ] as Array<never>).pipe(
        Stream.tap((part: { type: string }) =>
          Effect.sync(() => {
            if (part.type === "finish") {
              Telemetry.addGenAIAnnotations(request.span, {
                usage: { outputTokens: usage.outputTokens.total },
              })
            }
          })
        ),
      )
    },
  })
}

/** The `EmbeddingModel` of the simulated provider. */
export const simulatedEmbeddingModel: Effect.Effect<EmbeddingModel.EmbeddingModel> = EmbeddingModel.make({
  embedMany: (request) =>
    Effect.succeed({
      results: request.inputs.map((input) => [input.length, 1, 0]),
      usage: { inputTokens: request.inputs.length * 3 },
    }),
})

/** A `Model.make` layer providing both models of the simulated provider under `model`. */
export const simulatedModel = (
  model: string,
  options: SimulatedOptions = {},
): Model.Model<string, LanguageModel.LanguageModel | EmbeddingModel.EmbeddingModel, never> =>
  Model.make(
    options.provider ?? "simulated",
    model,
    Layer.merge(
      Layer.effect(LanguageModel.LanguageModel, simulatedLanguageModel(model, options)),
      Layer.effect(EmbeddingModel.EmbeddingModel, simulatedEmbeddingModel),
    ),
  )
