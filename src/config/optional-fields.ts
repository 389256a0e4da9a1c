// The optional fields a config's defaults leave out: `symtele config defaults` lists them with
// what they expect and what their absence means, so that no field of a config stays hidden.
import type * as t from 'io-ts';
import { OptionalType, StrictObjectType, describe, isPlainObject, refinedShape, withoutDefaults } from './codec.js';

export interface OptionalField {
  /** Dotted path of the field ("dataset.testSize"). */
  path: string;
  /** What it expects, in words ("a non-negative integer"). */
  expects: string;
  /** What its absence means, where the codec says. */
  absent?: string;
}

/** Every optional field absent from `value` (a decoded config), at any depth of plain objects. */
export function absentOptionalFields(codec: t.Decoder<any, any>, value: unknown, path = ''): OptionalField[] {
  const inner = withoutDefaults(codec) ?? refinedShape(codec);
  if (inner !== undefined) return absentOptionalFields(inner, value, path);
  if (codec instanceof OptionalType) return value === undefined ? [] : absentOptionalFields(codec.inner, value, path);
  if (!(codec instanceof StrictObjectType) || !isPlainObject(value)) return [];
  return Object.entries(codec.props as t.Props).flatMap(([key, field]) => {
    const at = path === '' ? key : `${path}.${key}`;
    if (value[key] === undefined && field instanceof OptionalType) {
      return [{ path: at, expects: describe(field), ...(field.absent === undefined ? {} : { absent: field.absent }) }];
    }
    return absentOptionalFields(field, value[key], at);
  });
}
