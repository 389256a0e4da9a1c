// Registries of parts (task families, learned optimizers, gradient estimators, baselines): every
// kind of part is a registry of entries of one shape, { kind, codec, create }. A config names a
// part as `{ kind, ...its fields }`; the registry's codec decodes it against the entry registered
// under that kind at decoding time, so a part registered later (a user's plugin) decodes, trains
// and resumes like a built-in one.
import * as t from 'io-ts';
import { describe, describeAs, isPlainObject, oneOf, refinedShape, UnknownKey, withoutDefaults } from './codec.js';

/** A part's config: its kind and its own fields. */
export type PartConfig = { kind: string } & Record<string, unknown>;

/**
 * What a part tells the preflight about its size, so a size no machine can hold is refused before
 * any work. Every field is optional: the preflight uses what the part gives.
 */
export interface PartSize {
  /** Floats the part holds: a learned optimizer's meta-parameters, one inner problem's parameters. */
  floats?: number;
  /** Floats of its largest single tensor (per problem where the part is batched over problems). */
  largestTensor?: number;
  /** Seconds per trajectory-step of a forward pass (evaluation), measured. */
  evalSecondsPerStep?: number;
  /** Seconds per trajectory-step of meta-training, measured. */
  trainSecondsPerStep?: number;
  /** Peak tensor bytes of one inner step, per parameter of the problem. */
  stepBytesPerParameter?: number;
  /** A task's parameter shapes (without the batch) and GL(n) group sizes. */
  paramShapes?: number[][];
  groupSizes?: number[];
}

/** What a learned optimizer may size itself by: a task's parameter shapes and group sizes. */
export interface TaskShapeInfo {
  readonly paramShapes: readonly (readonly number[])[];
  readonly symmetry?: { readonly groupSizes: readonly number[] };
}

export interface PartEntry<P, C = any> {
  /** The config's `kind`. */
  readonly kind: string;
  /** The part's own fields (everything but `kind`), with their defaults. */
  readonly codec: t.Type<C, unknown, unknown>;
  /** The part its fields describe. */
  readonly create: (config: C) => P;
  /** One line for `symtele list`. */
  readonly description?: string;
  /**
   * Its size from its fields alone (no tensor allocated); a learned optimizer's depends on the
   * task's shapes. Parts without it get no size check.
   */
  readonly size?: (config: C, task: TaskShapeInfo) => PartSize;
}

export class PartRegistry<P> {
  private readonly entries = new Map<string, PartEntry<P>>();
  /** Decodes `{ kind, ...fields }` with the codec of the entry registered under `kind`. */
  readonly codec: t.Type<PartConfig, PartConfig, unknown>;

  /** `what` names the part in errors ("task family"). */
  constructor(readonly what: string) {
    const kinds = () => [...this.entries.keys()];
    this.codec = describeAs(
      new t.Type<PartConfig, PartConfig, unknown>(
        what,
        (u): u is PartConfig => isPlainObject(u) && typeof u.kind === 'string' && this.entries.has(u.kind),
        (u, c) => {
          if (!isPlainObject(u)) return t.failure(u, c);
          const entry = typeof u.kind === 'string' ? this.entries.get(u.kind) : undefined;
          if (!entry) {
            const tag = kinds().length > 0 ? oneOf(kinds() as [string, ...string[]]) : t.never;
            return t.failure(u.kind, t.appendContext(c, 'kind', tag, u.kind));
          }
          const { kind, ...rest } = u;
          const r = entry.codec.validate(rest, c);
          if (r._tag === 'Left') {
            // `kind` is an allowed key too: say so in the member's unknown-key messages
            const errors = r.left.map((e) =>
              e.context.length === c.length + 1 && e.context[c.length]!.type === UnknownKey && e.message !== undefined
                ? { ...e, message: e.message.replace('(allowed: ', '(allowed: kind, ') }
                : e,
            );
            return t.failures(errors);
          }
          return t.success({ kind, ...(r.right as object) } as PartConfig);
        },
        (a) => a,
      ),
      `an object with "kind" one of the registered ${what} kinds`,
    );
  }

  /** Add an entry; a kind registered twice is an error (a plugin cannot silently replace a built-in). */
  register<C>(entry: PartEntry<P, C>): void {
    if (!entry || typeof entry.kind !== 'string' || entry.kind === '') throw new Error(`register ${this.what}: expected an entry with a non-empty "kind"`);
    if (typeof entry.create !== 'function' || !entry.codec || typeof (entry.codec as t.Mixed).validate !== 'function') {
      throw new Error(`register ${this.what} "${entry.kind}": expected { kind, codec (an io-ts codec), create (a function) }`);
    }
    if (this.entries.has(entry.kind)) throw new Error(`register ${this.what}: kind "${entry.kind}" is already registered`);
    this.entries.set(entry.kind, entry as PartEntry<P>);
  }

  has(kind: string): boolean {
    return this.entries.has(kind);
  }

  /** The entry of `kind`; an error listing the registered kinds otherwise. */
  get(kind: string): PartEntry<P> {
    const e = this.entries.get(kind);
    if (!e) throw new Error(`${this.what} kind: expected one of ${this.kinds().map((k) => JSON.stringify(k)).join(', ')}, got ${JSON.stringify(kind)}`);
    return e;
  }

  kinds(): string[] {
    return [...this.entries.keys()];
  }

  /** What a decoded config's part tells of its size (empty when its entry has no `size`). */
  size(config: PartConfig, task: TaskShapeInfo = { paramShapes: [] }): PartSize {
    const { kind, ...rest } = config;
    return this.get(kind).size?.(rest, task) ?? {};
  }

  /** The part a decoded config describes. */
  create(config: PartConfig): P {
    const { kind, ...rest } = config;
    return this.get(kind).create(rest);
  }

  /** Every entry with its fields resolved from defaults (for `symtele list`). */
  list(): { kind: string; description?: string; fields: string; defaults?: unknown }[] {
    return [...this.entries.values()].map((e) => {
      const d = e.codec.decode({});
      return {
        kind: e.kind,
        ...(e.description ? { description: e.description } : {}),
        fields: fieldsOf(e.codec),
        ...(d._tag === 'Right' ? { defaults: d.right } : {}),
      };
    });
  }
}

/** The size of an MLP task with layer widths d_0..d_L: weights [d_{i+1}, d_i], GL(d_m) on each hidden layer. */
export function mlpTaskSize(widths: readonly number[]): PartSize {
  const paramShapes = widths.slice(1).map((w, i) => [w, widths[i]!]);
  const sizes = paramShapes.map(([a, b]) => a! * b!);
  return { paramShapes, groupSizes: widths.slice(1, -1), floats: sizes.reduce((a, b) => a + b, 0), largestTensor: Math.max(0, ...sizes) };
}

/** The fields of an object codec, each with what it expects ("hidden: a positive integer, ..."). */
export function fieldsOf(codec: t.Decoder<any, any>): string {
  // unwrap defaults and checks down to the object's props
  let inner: t.Decoder<any, any> | undefined = codec;
  for (let i = 0; i < 4 && inner && !(inner as { props?: t.Props }).props; i++) inner = withoutDefaults(inner) ?? refinedShape(inner);
  const props = (inner as { props?: t.Props } | undefined)?.props;
  if (!props) return describe(codec);
  const fields = Object.entries(props).map(([k, v]) => `${k}: ${describe(v)}`);
  return fields.length > 0 ? fields.join('; ') : '(none)';
}
