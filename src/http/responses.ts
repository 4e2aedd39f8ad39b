/** OpenAPI response objects for problem details, shared by the routes. */
import type { TSchema } from 'typebox';
import { ErrorBody } from '../schemas/common.js';

/** One problem+json response per status, with Retry-After documented where it is sent. */
export function problemResponses(descriptions: Record<number, string>, schema: TSchema = ErrorBody): Record<number, unknown> {
  return Object.fromEntries(
    Object.entries(descriptions).map(([status, description]) => [
      status,
      {
        description,
        ...(status === '503' || status === '429'
          ? { headers: { 'retry-after': { type: 'integer', description: 'Seconds to wait before retrying.' } } }
          : {}),
        content: { 'application/problem+json': { schema } },
      },
    ]),
  );
}
