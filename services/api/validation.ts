/**
 * Request validation: Ajv as fastify sets it up, with one difference by part of the
 * request. Query strings, path parameters and headers are text, so their values are
 * coerced to the schema's types (`?wait=30` → 30; a single value → an array). A JSON body
 * has types of its own and is never coerced: coercion changes values a client sent
 * exactly ("9007199254740993" pushed through a JS number is 9007199254740992, and an
 * `anyOf [number, string]` coerces before it tries string), so a body must match its
 * schema as sent.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type ValidatorFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;
type AjvOptions = { customOptions?: Record<string, unknown> } & Record<string, unknown>;
type RouteDefinition = { schema: unknown; method: string; url: string; httpPart?: string };
type BuildFromPool = (externalSchemas: unknown, options: AjvOptions) => (route: RouteDefinition) => unknown;

// fastify's own compiler (its dependency), one pool per coercion mode.
const AjvCompiler = createRequire(import.meta.url)('@fastify/ajv-compiler') as () => BuildFromPool;
const coercing = AjvCompiler();
const exact = AjvCompiler();

/** fastify's `schemaController.compilersFactory.buildValidator`. */
export const buildValidator = ((externalSchemas: unknown, options: AjvOptions) => {
  const text = coercing(externalSchemas, options);
  const body = exact(externalSchemas, { ...options, customOptions: { ...options.customOptions, coerceTypes: false } });
  return (route: RouteDefinition) => (route.httpPart === 'body' ? body(route) : text(route));
}) as unknown as ValidatorFactory;
