/**
 * The config framework: io-ts codecs with readable errors, strict objects, defaults.
 *
 * Every config is decoded by a codec built from these combinators. Decoding rejects unknown
 * keys and bad values, and lists EVERY problem as `path: expected <what>, got <value>`:
 *
 *     meta.unroll: expected a positive integer, got -3
 *     optimizer.name: expected one of "sgd" | "momentum" | "adam", got "adamw"
 *     teleport.foo: unknown key (allowed: objective, every, steps)
 *
 * Writing the config of a module (example):
 *
 *     import * as t from 'io-ts';
 *     import { strict, withDefaults, oneOf, optional, taggedUnion,
 *              PositiveInt, PositiveNumber, Probability } from './codec.js';
 *     import { Seed, TeleportObjective } from './common.js';
 *
 *     // 1. the complete shape, strict (unknown keys are errors)
 *     const TeleportShape = strict({
 *       objective: TeleportObjective,
 *       every: PositiveInt,
 *       steps: PositiveInt,
 *       lr: PositiveNumber,
 *       schedule: oneOf(['once', 'periodic']),
 *       note: optional(t.string),          // may be absent; `note?: string` in the type
 *     });
 *     // 2. defaults: the input is deep-partial, the decoded value is complete
 *     export const TeleportConfig = withDefaults(TeleportShape, {
 *       objective: 'gradNorm', every: 10, steps: 1, lr: 1e-3, schedule: 'periodic',
 *     });
 *     export type TeleportConfig = t.TypeOf<typeof TeleportConfig>;
 *
 *     // 3. nest: a key whose codec has defaults may be omitted altogether
 *     export const ExperimentConfig = withDefaults(
 *       strict({ seed: Seed, teleport: TeleportConfig,
 *                optimizer: taggedUnion('name', {
 *                  sgd: withDefaults(strict({ lr: PositiveNumber }), { lr: 0.01 }),
 *                  momentum: withDefaults(strict({ lr: PositiveNumber, beta: Probability }),
 *                                         { lr: 0.01, beta: 0.9 }),
 *                }) }),
 *       { seed: 0, optimizer: { name: 'sgd' } },
 *     );
 *
 *     // 4. decode: Either at the edge, or TaskEither from a file
 *     decodeConfig(ExperimentConfig, raw, 'flags');       // Either<ConfigError, A>
 *     loadConfigFile(ExperimentConfig, 'experiments/x.json')(); // Promise<Either<...>>
 *     decodeOrThrow(ExperimentConfig, {});                // all defaults, throws ConfigError
 *
 * Conventions: build objects with `strict` (spread shared props objects into it rather than
 * using t.intersection, which cannot see the other half's keys); use `oneOf` for string
 * choices and `taggedUnion` for variants (each reports one clear error instead of one per
 * union member); numbers are refined, not branded, so `number` stays `number` in the types
 * and configs can be written as plain literals in code and tests; give a new refinement a
 * readable description with `refine(base, predicate, name, 'a ...')`. Register a config with
 * `registerConfig` (src/config/registry.ts) so `symtele config check --kind` knows it.
 */
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { readFile } from 'node:fs/promises';

// ---------------------------------------------------------------------------------------------
// Descriptions: what a codec expects, in words ("a positive integer").

const DESCRIPTIONS = new WeakMap<t.Decoder<any, any>, string>();

/** Attach a human description ("a positive integer") to a codec; returns the codec. */
export function describeAs<C extends t.Decoder<any, any>>(codec: C, description: string): C {
  DESCRIPTIONS.set(codec, description);
  return codec;
}

/** What a codec expects, in words, for error messages. */
export function describe(codec: t.Decoder<any, any>): string {
  const own = DESCRIPTIONS.get(codec);
  if (own !== undefined) return own;
  const c = codec as t.Mixed & { _tag?: string };
  switch (c._tag) {
    case 'StringType':
      return 'a string';
    case 'NumberType':
      return 'a number';
    case 'BooleanType':
      return 'a boolean';
    case 'NullType':
      return 'null';
    case 'UndefinedType':
    case 'VoidType':
      return 'nothing';
    case 'LiteralType':
      return JSON.stringify((c as unknown as t.LiteralC<string | number | boolean>).value);
    case 'KeyofType':
      return `one of ${Object.keys((c as unknown as t.KeyofC<Record<string, unknown>>).keys)
        .map((k) => JSON.stringify(k))
        .join(' | ')}`;
    case 'ArrayType':
    case 'ReadonlyArrayType':
      return `an array of ${plural(describe((c as unknown as t.ArrayC<t.Mixed>).type))}`;
    case 'InterfaceType':
    case 'PartialType':
    case 'ExactType':
    case 'StrictType':
    case 'DictionaryType':
      return 'an object';
    case 'UnionType': {
      const members = (c as unknown as t.UnionC<[t.Mixed, t.Mixed]>).types.map(describe);
      return members.join(' or ');
    }
    case 'RefinementType':
      return describe((c as unknown as t.RefinementC<t.Mixed>).type);
    default:
      return c.name;
  }
}

/** "a positive integer" -> "positive integers" (best effort, for array descriptions). */
function plural(d: string): string {
  const m = /^an? (.*)$/.exec(d);
  if (m === null) return d;
  const rest = m[1]!;
  const words = rest.split(' ');
  // pluralise the head noun: the last word before " in "/" of "/"(" if any, else the last word
  let i = words.findIndex((w) => w === 'in' || w === 'of' || w.startsWith('('));
  i = i <= 0 ? words.length - 1 : i - 1;
  const w = words[i]!;
  words[i] = w.endsWith('s') ? w : w.endsWith('y') ? `${w.slice(0, -1)}ies` : `${w}s`;
  return words.join(' ');
}

// ---------------------------------------------------------------------------------------------
// Refined scalars. Refined, not branded: the decoded type stays `number` / `string`.

/** A codec accepting the values of `base` that satisfy `predicate`; `description` is for errors. */
export function refine<A, O>(
  base: t.Type<A, O, unknown>,
  predicate: (a: A) => boolean,
  name: string,
  description: string,
): t.Type<A, O, unknown> {
  const codec = new t.Type<A, O, unknown>(
    name,
    (u): u is A => base.is(u) && predicate(u),
    (u, c) => {
      const r = base.validate(u, c);
      if (E.isLeft(r)) return t.failure(u, c);
      return predicate(r.right) ? r : t.failure(u, c);
    },
    base.encode,
  );
  return describeAs(codec, description);
}

const isFiniteNumber = (u: number) => Number.isFinite(u);

export const Finite = refine(t.number, isFiniteNumber, 'Finite', 'a finite number');
export const PositiveNumber = refine(t.number, (n) => isFiniteNumber(n) && n > 0, 'PositiveNumber', 'a positive number');
export const NonNegativeNumber = refine(
  t.number,
  (n) => isFiniteNumber(n) && n >= 0,
  'NonNegativeNumber',
  'a non-negative number',
);
export const Probability = refine(
  t.number,
  (n) => n >= 0 && n <= 1,
  'Probability',
  'a probability (a number in [0, 1])',
);
export const Int = refine(t.number, (n) => Number.isSafeInteger(n), 'Int', 'an integer');
export const PositiveInt = refine(t.number, (n) => Number.isSafeInteger(n) && n > 0, 'PositiveInt', 'a positive integer');
export const NonNegativeInt = refine(
  t.number,
  (n) => Number.isSafeInteger(n) && n >= 0,
  'NonNegativeInt',
  'a non-negative integer',
);
export const NonEmptyString = refine(t.string, (s) => s.length > 0, 'NonEmptyString', 'a non-empty string');

/** Bounds of `numberIn`: any of gt / ge (lower) and lt / le (upper). */
export interface Bounds {
  gt?: number;
  ge?: number;
  lt?: number;
  le?: number;
  integer?: boolean;
}

/** A finite number within bounds, e.g. numberIn({ gt: 0, le: 1 }) -> "a number in (0, 1]". */
export function numberIn(b: Bounds): t.Type<number, number, unknown> {
  const lo = b.gt ?? b.ge;
  const hi = b.lt ?? b.le;
  const what = b.integer ? 'an integer' : 'a number';
  const interval = `${b.gt !== undefined ? '(' : '['}${lo ?? '-inf'}, ${hi ?? 'inf'}${b.lt !== undefined ? ')' : ']'}`;
  return refine(
    t.number,
    (n) =>
      Number.isFinite(n) &&
      (!b.integer || Number.isSafeInteger(n)) &&
      (b.gt === undefined || n > b.gt) &&
      (b.ge === undefined || n >= b.ge) &&
      (b.lt === undefined || n < b.lt) &&
      (b.le === undefined || n <= b.le),
    `NumberIn${interval}`,
    `${what} in ${interval}`,
  );
}

/** One of a fixed set of strings: oneOf(['sgd', 'adam']) -> 'expected one of "sgd" | "adam"'. */
export function oneOf<const L extends readonly [string, ...string[]]>(
  values: L,
  name?: string,
): t.KeyofC<{ [K in L[number]]: null }> {
  const keys = Object.fromEntries(values.map((v) => [v, null])) as { [K in L[number]]: null };
  return t.keyof(keys, name);
}

/**
 * `null` or a value of `codec`; a bad value reports `codec`'s own problems at their paths
 * (a plain t.union would report one "expected X or null" for the whole object).
 */
export function nullable<C extends t.Mixed>(codec: C): t.Type<t.TypeOf<C> | null, t.OutputOf<C> | null, unknown> {
  const n = new t.Type<t.TypeOf<C> | null, t.OutputOf<C> | null, unknown>(
    `${codec.name} | null`,
    (u): u is t.TypeOf<C> | null => u === null || codec.is(u),
    (u, c) => (u === null ? t.success(null) : codec.validate(u, c)),
    (a) => (a === null ? null : codec.encode(a)),
  );
  return describeAs(n, `${describe(codec)} or null`);
}

const ARRAYS = new WeakSet<t.Decoder<any, any>>();

/** An array with optional bounds on its length. */
export function arrayOf<C extends t.Mixed>(
  item: C,
  opts: { min?: number; max?: number; name?: string } = {},
): t.Type<Array<t.TypeOf<C>>, Array<t.OutputOf<C>>, unknown> {
  const base = t.array(item);
  const { min, max } = opts;
  const items = plural(describe(item));
  const size =
    min !== undefined && max !== undefined
      ? min === max
        ? `exactly ${min}`
        : `${min} to ${max}`
      : min !== undefined
        ? `at least ${min}`
        : max !== undefined
          ? `at most ${max}`
          : '';
  const description = size === '' ? `an array of ${items}` : `an array of ${size} ${items}`;
  const codec = new t.Type<Array<t.TypeOf<C>>, Array<t.OutputOf<C>>, unknown>(
    opts.name ?? `Array<${item.name}>`,
    (u): u is Array<t.TypeOf<C>> =>
      base.is(u) && (min === undefined || u.length >= min) && (max === undefined || u.length <= max),
    (u, c) => {
      if (!Array.isArray(u)) return t.failure(u, c);
      const lengthOk = (min === undefined || u.length >= min) && (max === undefined || u.length <= max);
      const r = base.validate(u, c);
      if (lengthOk) return r;
      const lengthError: t.ValidationError = { value: u, context: c };
      return E.isLeft(r) ? t.failures([lengthError, ...r.left]) : t.failures([lengthError]);
    },
    base.encode,
  );
  ARRAYS.add(codec);
  return describeAs(codec, description);
}

// ---------------------------------------------------------------------------------------------
// Strict objects: unknown keys are errors, every field is validated.

/** A codec that may be absent (`undefined`) where it appears as an object property. */
export class OptionalType<C extends t.Mixed> extends t.Type<
  t.TypeOf<C> | undefined,
  t.OutputOf<C> | undefined,
  unknown
> {
  readonly _optional = true as const;
  /** What absence means ("the whole test set"), shown by `symtele config defaults`. */
  constructor(
    readonly inner: C,
    readonly absent?: string,
  ) {
    super(
      `${inner.name}?`,
      (u): u is t.TypeOf<C> | undefined => u === undefined || inner.is(u),
      (u, c) => (u === undefined ? t.success(undefined) : inner.validate(u, c)),
      (a) => (a === undefined ? undefined : inner.encode(a)),
    );
    describeAs(this, describe(inner));
  }
}

/** Mark a property as optional: absent in the input, `key?: A` in the decoded type. */
export function optional<C extends t.Mixed>(codec: C, absent?: string): OptionalType<C> {
  return new OptionalType(codec, absent);
}

type OptionalKeys<P extends t.Props> = { [K in keyof P]: P[K] extends OptionalType<any> ? K : never }[keyof P];
type RequiredKeys<P extends t.Props> = Exclude<keyof P, OptionalKeys<P>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type StrictOf<P extends t.Props> = Simplify<
  { [K in RequiredKeys<P>]: t.TypeOf<P[K]> } & { [K in OptionalKeys<P>]?: Exclude<t.TypeOf<P[K]>, undefined> }
>;
export type StrictOutputOf<P extends t.Props> = Simplify<
  { [K in RequiredKeys<P>]: t.OutputOf<P[K]> } & {
    [K in OptionalKeys<P>]?: Exclude<t.OutputOf<P[K]>, undefined>;
  }
>;

/** Marker codec in the context of an "unknown key" error. */
export const UnknownKey = describeAs(
  new t.Type<never, never, unknown>(
    'UnknownKey',
    (_u): _u is never => false,
    (u, c) => t.failure(u, c),
    (a) => a,
  ),
  'no such key',
);

export function isPlainObject(u: unknown): u is Record<string, unknown> {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return false;
  const proto = Object.getPrototypeOf(u);
  return proto === Object.prototype || proto === null;
}

export class StrictObjectType<P extends t.Props> extends t.Type<StrictOf<P>, StrictOutputOf<P>, unknown> {
  readonly _tag = 'StrictObjectType' as const;
  constructor(
    readonly props: P,
    name?: string,
  ) {
    const keys = Object.keys(props);
    super(
      name ?? `{ ${keys.map((k) => `${k}: ${props[k]!.name}`).join(', ')} }`,
      (u): u is StrictOf<P> =>
        isPlainObject(u) &&
        Object.keys(u).every((k) => k in props) &&
        keys.every((k) => props[k]!.is(u[k])),
      (u, c) => {
        if (!isPlainObject(u)) return t.failure(u, c);
        const errors: t.ValidationError[] = [];
        const out: Record<string, unknown> = {};
        for (const k of keys) {
          const codec = props[k]!;
          const r = codec.validate(u[k], t.appendContext(c, k, codec, u[k]));
          if (E.isLeft(r)) errors.push(...r.left);
          else if (r.right !== undefined) out[k] = r.right;
        }
        for (const k of Object.keys(u)) {
          if (Object.prototype.hasOwnProperty.call(props, k)) continue;
          const allowed = keys.length > 0 ? ` (allowed: ${keys.join(', ')})` : '';
          errors.push({
            value: u[k],
            context: t.appendContext(c, k, UnknownKey, u[k]),
            message: `unknown key${allowed}`,
          });
        }
        return errors.length > 0 ? t.failures(errors) : t.success(out as StrictOf<P>);
      },
      (a) => {
        const out: Record<string, unknown> = {};
        const rec = a as Record<string, unknown>;
        for (const k of keys) if (rec[k] !== undefined) out[k] = props[k]!.encode(rec[k]);
        return out as StrictOutputOf<P>;
      },
    );
    describeAs(this, 'an object');
  }
}

/** An object with exactly these keys: unknown keys are reported as errors (t.exact strips them). */
export function strict<P extends t.Props>(props: P, name?: string): StrictObjectType<P> {
  return new StrictObjectType(props, name);
}
/** Alias of `strict`. */
export const strictType = strict;

// ---------------------------------------------------------------------------------------------
// Tagged unions: one error for a bad tag, the member's errors otherwise.

type TaggedOf<Tag extends string, M extends Record<string, t.Mixed>> = {
  [K in keyof M & string]: Simplify<{ [T in Tag]: K } & t.TypeOf<M[K]>>;
}[keyof M & string];
type TaggedOutputOf<Tag extends string, M extends Record<string, t.Mixed>> = {
  [K in keyof M & string]: Simplify<{ [T in Tag]: K } & t.OutputOf<M[K]>>;
}[keyof M & string];

/**
 * Variants told apart by a string tag: taggedUnion('name', { sgd: SgdCodec, adam: AdamCodec }).
 * The input `{ name: 'sgd', lr: 0.1 }` is decoded as `{ name: 'sgd', ...SgdCodec.decode({ lr: 0.1 }) }`:
 * member codecs describe the other keys only (and may carry their own defaults).
 */
export function taggedUnion<Tag extends string, M extends Record<string, t.Mixed>>(
  tag: Tag,
  members: M,
  name?: string,
): t.Type<TaggedOf<Tag, M>, TaggedOutputOf<Tag, M>, unknown> {
  const names = Object.keys(members);
  if (names.length === 0) throw new Error('taggedUnion needs at least one member');
  const tagCodec = oneOf(names as [string, ...string[]]);
  const codec = new t.Type<TaggedOf<Tag, M>, TaggedOutputOf<Tag, M>, unknown>(
    name ?? `${tag}: ${names.join(' | ')}`,
    (u): u is TaggedOf<Tag, M> => {
      if (!isPlainObject(u) || !tagCodec.is(u[tag])) return false;
      const { [tag]: _, ...rest } = u;
      return members[u[tag] as string]!.is(rest);
    },
    (u, c) => {
      if (!isPlainObject(u)) return t.failure(u, c);
      const which = u[tag];
      if (!tagCodec.is(which)) return t.failure(which, t.appendContext(c, tag, tagCodec, which));
      const { [tag]: _, ...rest } = u;
      return pipe(
        members[which]!.validate(rest, c),
        // the tag is an allowed key too: say so in the member's unknown-key messages
        E.mapLeft((errors) =>
          errors.map((e) =>
            e.context.length === c.length + 1 && e.context[c.length]!.type === UnknownKey && e.message !== undefined
              ? { ...e, message: e.message.replace('(allowed: ', `(allowed: ${tag}, `) }
              : e,
          ),
        ),
        E.map((decoded) => ({ [tag]: which, ...(decoded as object) }) as TaggedOf<Tag, M>),
      );
    },
    (a) => {
      const rec = a as Record<string, unknown>;
      const { [tag]: which, ...rest } = rec;
      return { [tag]: which, ...(members[which as string]!.encode(rest) as object) } as TaggedOutputOf<Tag, M>;
    },
  );
  return describeAs(codec, `an object with "${tag}" one of ${names.map((n) => JSON.stringify(n)).join(' | ')}`);
}

// ---------------------------------------------------------------------------------------------
// Defaults.

export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/**
 * Deep merge of plain objects: keys of `over` win; nested plain objects are merged; arrays and
 * other values replace, but an object whose keys are indices of an array changes those entries,
 * and an object of another `kind` than the base's replaces it whole (another member of a union). `undefined` in `over` leaves the base value (handy for CLI flags).
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  // an object keyed by indices over an array (`--set variants.1.train.unroll=20`) changes those entries
  if (Array.isArray(base) && isPlainObject(over)) {
    const arr: unknown[] = base;
    if (Object.keys(over).every((k) => /^\d+$/.test(k) && Number(k) < arr.length)) return arr.map((b, i) => deepMerge(b, over[String(i)]));
  }
  if (!isPlainObject(over)) return over;
  // a part of another kind (`{ kind, ... }` of a tagged union) replaces the part, fields and all
  if (isPlainObject(base) && typeof over.kind === 'string' && typeof base.kind === 'string' && over.kind !== base.kind) return over;
  if (!isPlainObject(base)) base = {};
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    const merged = deepMerge((base as Record<string, unknown>)[k], v);
    if (merged !== undefined) out[k] = merged;
  }
  return out;
}

const WITH_DEFAULTS = new WeakMap<t.Decoder<any, any>, t.Mixed>();

/** The codec a withDefaults codec wraps (undefined for any other codec): for tools that walk a config's shape. */
export const withoutDefaults = (codec: t.Decoder<any, any>): t.Mixed | undefined => WITH_DEFAULTS.get(codec);

/**
 * A codec whose input may leave out anything `defaults` provides (deeply); the decoded value is
 * complete. Absent input (`undefined`) decodes as the defaults alone, so a property whose codec
 * has defaults can be omitted from its parent object.
 */
export function withDefaults<C extends t.Mixed>(
  codec: C,
  defaults: DeepPartial<t.OutputOf<C>>,
  name?: string,
): t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown> {
  const wrapped = new t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown>(
    name ?? codec.name,
    codec.is,
    (u, c) => codec.validate(deepMerge(structuredClone(defaults), u), c),
    codec.encode,
  );
  WITH_DEFAULTS.set(wrapped, codec);
  return describeAs(wrapped, describe(codec));
}

// ---------------------------------------------------------------------------------------------
// Checks across fields: problems a shape cannot state (one field against another, nested
// configs resolved against presets), listed together with the shape's own.

/**
 * A codec that also runs `check` on its input, whether the shape's own validation passed or
 * not, so every problem at every depth is listed in one pass. `check` returns problems made
 * with `problemAt` (or another codec's errors decoded under `c`); the value decodes only when
 * there are none.
 */
export function withChecks<C extends t.Mixed>(
  codec: C,
  check: (u: unknown, c: t.Context) => t.Errors,
): t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown> {
  const checked = new t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown>(
    codec.name,
    (u): u is t.TypeOf<C> => codec.is(u) && check(u, [{ key: '', type: codec, actual: u }]).length === 0,
    (u, c) => {
      const r = codec.validate(u, c);
      const more = check(u, c);
      if (more.length === 0) return r;
      return t.failures(E.isLeft(r) ? [...r.left, ...more] : [...more]);
    },
    codec.encode,
  );
  return describeAs(checked, describe(codec));
}

/**
 * A codec that, once `shape` decodes, also reports `problems` of the decoded value (checks
 * across fields), each at its dotted path (`optimizers.0.teleport.epoch`). Use `withChecks`
 * instead where the checks must run even when the shape does not decode.
 */
const refinedShapes = new WeakMap<t.Decoder<unknown, unknown>, t.Decoder<unknown, unknown>>();

/** The shape a `refineConfig` codec checks further (undefined for other codecs): for walkers of fields. */
export const refinedShape = (codec: t.Decoder<unknown, unknown>): t.Decoder<unknown, unknown> | undefined => refinedShapes.get(codec);

/** Record `shape` as the object shape `codec` checks (for walkers of fields such as `symtele list`); returns `codec`. */
export function withShape<C extends t.Decoder<any, any>>(codec: C, shape: t.Decoder<any, any>): C {
  refinedShapes.set(codec as t.Decoder<unknown, unknown>, shape as t.Decoder<unknown, unknown>);
  return codec;
}

export function refineConfig<A, O>(shape: t.Type<A, O, unknown>, problems: (a: A) => Array<{ path: string; message: string }>): t.Type<A, O, unknown> {
  const refined = describeAs(
    new t.Type<A, O, unknown>(
      shape.name,
      (u): u is A => shape.is(u) && problems(u as A).length === 0,
      (u, c) =>
        E.chain((a: A): t.Validation<A> => {
          const found = problems(a);
          if (found.length === 0) return t.success(a);
          return t.failures(
            found.map(({ path, message }) => {
              let ctx = c;
              let at: unknown = a; // the decoded value: defaults included
              for (const key of path.split('.')) {
                at = (at as Record<string, unknown> | undefined)?.[key];
                ctx = t.appendContext(ctx, key, Array.isArray(at) ? t.array(t.unknown) : t.unknown, at);
              }
              return { value: at, context: ctx, message };
            }),
          );
        })(shape.validate(u, c) as t.Validation<A>),
      shape.encode,
    ),
    describe(shape),
  );
  refinedShapes.set(refined, shape);
  return refined;
}

/** A problem at `c` extended by `keys` (each with the codec found there, for the path's look). */
export function problemAt(c: t.Context, keys: ReadonlyArray<readonly [string, t.Decoder<any, any>]>, message: string, value?: unknown): t.ValidationError {
  let context = c;
  for (const [key, type] of keys) context = t.appendContext(context, key, type, undefined);
  return { value, context, message };
}

// ---------------------------------------------------------------------------------------------
// Error reporting.

/** A config that could not be read or decoded: every problem, and where the config came from. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A short rendering of an offending value for messages. */
export function formatValue(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (typeof v === 'number') return String(v); // NaN, Infinity, -0 read better than JSON
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function isArrayLike(codec: t.Decoder<any, any>): boolean {
  const tag = (codec as { _tag?: string })._tag;
  return tag === 'ArrayType' || tag === 'ReadonlyArrayType' || tag === 'TupleType' || ARRAYS.has(codec);
}

function formatPath(context: t.Context): string {
  let path = '';
  for (let i = 1; i < context.length; i++) {
    const key = context[i]!.key;
    if (/^\d+$/.test(key) && isArrayLike(context[i - 1]!.type)) path += `[${key}]`;
    else path += path === '' ? key : `.${key}`;
  }
  return path === '' ? '(root)' : path;
}

/** One message per problem: `path: expected <what>, got <value>` (deduplicated, in order). */
export function reportErrors(errors: t.Errors): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    let context = e.context;
    let value = e.value;
    // A plain io-ts union reports once per member: report it once, at the union.
    const u = context.findIndex((entry) => (entry.type as { _tag?: string })._tag === 'UnionType');
    if (u >= 0 && u < context.length - 1) {
      context = context.slice(0, u + 1);
      value = context[u]!.actual;
    }
    const last = context[context.length - 1];
    const path = formatPath(context);
    const what =
      e.message !== undefined && u < 0
        ? e.message
        : `expected ${last === undefined ? 'a valid value' : describe(last.type)}, got ${formatValue(value)}`;
    const line = `${path}: ${what}`;
    if (!seen.has(line)) {
      seen.add(line);
      out.push(line);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding at the edges.

/** Decode a raw value (parsed JSON, flags) with a codec; `source` names it in errors. */
export function decodeConfig<A, O>(codec: t.Type<A, O, unknown>, raw: unknown, source: string): E.Either<ConfigError, A> {
  return pipe(
    codec.decode(raw),
    E.mapLeft((errors) => new ConfigError(source, reportErrors(errors))),
  );
}

/** Decode or throw the ConfigError (for code and tests: `decodeOrThrow(Codec, {})` gives the defaults). */
export function decodeOrThrow<A, O>(codec: t.Type<A, O, unknown>, raw: unknown, source = 'value'): A {
  const r = decodeConfig(codec, raw, source);
  if (E.isLeft(r)) throw r.left;
  return r.right;
}

/** Read a JSON file (no decoding); a missing file or invalid JSON is a ConfigError naming the file. */
export function readJsonFile(path: string): TE.TaskEither<ConfigError, unknown> {
  return pipe(
    TE.tryCatch(
      () => readFile(path, 'utf8'),
      (e) => {
        const err = e as NodeJS.ErrnoException;
        const why =
          err.code === 'ENOENT'
            ? 'no such file'
            : err.code === 'EISDIR'
              ? 'is a directory'
              : err.code === 'EACCES'
                ? 'permission denied'
                : err.message;
        return new ConfigError(path, [`cannot read config file ${path}: ${why}`]);
      },
    ),
    TE.chainEitherK((text) =>
      E.tryCatch(
        () => JSON.parse(text) as unknown,
        (e) => new ConfigError(path, [`invalid JSON in config file ${path}: ${(e as Error).message}`]),
      ),
    ),
  );
}

/** Read and decode a JSON config file. */
export function loadConfigFile<A, O>(
  codec: t.Type<A, O, unknown>,
  path: string,
  overrides?: unknown,
): TE.TaskEither<ConfigError, A> {
  return pipe(
    readJsonFile(path),
    TE.chainEitherK((raw) => decodeConfig(codec, deepMerge(raw, overrides), path)),
  );
}

/**
 * Overrides written as `dotted.path=value` (e.g. from repeated `--set` flags) as a nested object.
 * Values are parsed as JSON when they can be (`3`, `true`, `[2,20,2]`, `"x"`), else kept as strings.
 */
export function overridesFromAssignments(assignments: readonly string[], source = '--set'): E.Either<ConfigError, Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const a of assignments) {
    const eq = a.indexOf('=');
    const path = eq > 0 ? a.slice(0, eq).split('.') : [];
    if (eq <= 0 || path.some((p) => p === '')) {
      problems.push(`${formatValue(a)}: expected key.path=value`);
      continue;
    }
    const text = a.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    let node = out;
    for (const key of path.slice(0, -1)) {
      if (!isPlainObject(node[key])) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = value;
  }
  return problems.length > 0 ? E.left(new ConfigError(source, problems)) : E.right(out);
}
