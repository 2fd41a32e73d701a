/**
 * The explicit type of a `Data.TaggedError` base class. A public error class extends a base declared with
 * this type (`const FooBase: TaggedErrorClass<"Foo", FooFields> = Data.TaggedError("Foo")<FooFields>`), so
 * JSR sees no slow types.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"

/** The constructor of a tagged error with tag `Tag` and fields `Fields`. */
export type TaggedErrorClass<Tag extends string, Fields> = new (
  args: Fields,
) => Cause.YieldableError & { readonly _tag: Tag } & Readonly<Fields>
