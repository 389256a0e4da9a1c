/**
 * Named config codecs, so tools (`symtele config check <file> --kind <name>`) can validate any
 * registered config. Register a codec next to its definition:
 *
 *     registerConfig('teleport', TeleportConfig, 'teleport schedule and objective');
 *
 * A module's codecs are visible once the module is imported; the CLI imports every command,
 * so a codec imported (directly or not) by a command is registered before arguments are parsed.
 */
import type * as t from 'io-ts';

export interface RegisteredConfig {
  readonly name: string;
  readonly codec: t.Type<any, any, unknown>;
  readonly description: string;
  /** The checks its command runs after decoding, before any work (see registerPreflight). */
  readonly preflight?: Preflight<any>;
  /** The config as it runs, where that differs from the decoded value (presets applied): what `config check` prints. */
  readonly resolve?: (value: any, source: string) => unknown;
}

/**
 * Checks of a decoded config that its command runs before any work (output paths, estimated
 * sizes): throws a ConfigError listing every problem, else returns notes for `config check`
 * (e.g. the estimate). `flags`: the command's options that name outputs (e.g. `json`).
 * `loadConfigOrExit` (src/cli/run.ts) runs it for every command that loads a registered codec,
 * and `config check` runs it without flags, so both give one verdict.
 */
export type Preflight<A> = (value: A, source: string, flags?: Readonly<Record<string, unknown>>) => string;

const REGISTRY = new Map<string, RegisteredConfig>();
const PREFLIGHTS = new Map<string, Preflight<any>>();

/** Register a codec under a name; registering the same codec twice is allowed, a different one is not. */
export function registerConfig<A, O>(name: string, codec: t.Type<A, O, unknown>, description = '', resolve?: (value: A, source: string) => unknown): void {
  const prev = REGISTRY.get(name);
  if (prev !== undefined && prev.codec !== codec) {
    throw new Error(`config kind "${name}" is already registered with another codec`);
  }
  REGISTRY.set(name, { name, codec, description, ...(resolve ? { resolve } : {}) });
}

/** Register the preflight of a config kind (next to the checks, which may live apart from the codec). */
export function registerPreflight<A>(name: string, preflight: Preflight<A>): void {
  PREFLIGHTS.set(name, preflight);
}

/** The preflight registered for this codec, if any. */
export function preflightOf(codec: t.Decoder<any, any>): Preflight<any> | undefined {
  for (const c of REGISTRY.values()) if (c.codec === codec) return PREFLIGHTS.get(c.name);
  return undefined;
}

/** The registered config of that name, if any. */
export function getConfig(name: string): RegisteredConfig | undefined {
  const c = REGISTRY.get(name);
  return c && { ...c, preflight: PREFLIGHTS.get(name) };
}

/** Every registered config, sorted by name. */
export function listConfigs(): RegisteredConfig[] {
  return [...REGISTRY.values()].sort((a, b) => a.name.localeCompare(b.name));
}
