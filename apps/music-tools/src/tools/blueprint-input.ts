import { z } from 'zod';
import { BLUEPRINT_SCHEMA } from '@mcm/pipeline';

const { $schema: _schemaDialect, $id: _schemaId, ...blueprintJsonSchema } = BLUEPRINT_SCHEMA;

/**
 * A blueprint argument that advertises the full blueprint JSON Schema to clients
 * but accepts any object at the protocol level, so the tool itself can answer with
 * JSON paths instead of a generic "invalid arguments" error.
 */
export const blueprintArgument = z
  .record(z.string(), z.unknown())
  .meta(structuredClone(blueprintJsonSchema) as unknown as Record<string, unknown>);

/** For `validate_blueprint`, whose whole point is to take anything and say what is wrong with it. */
export const anyBlueprintArgument = z
  .unknown()
  .describe('The blueprint to check. Its JSON Schema is the resource blueprint://schema.');

export const blueprintErrorOutput = z.object({
  path: z.string().describe('JSON Pointer of the offending value, "/" for the root'),
  message: z.string(),
});
