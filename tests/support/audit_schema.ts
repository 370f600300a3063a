/**
 * Validates audit events against the published schema, docs/audit-event.schema.json, with Ajv
 * (a JSON Schema implementation independent of this service).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Ajv } from "ajv";
import schema from "../../docs/audit-event.schema.json" with { type: "json" };

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const validate = new Ajv({ allErrors: true, formats: { "date-time": RFC3339 } }).compile(schema);

/** Throws, naming every violation, unless `event` is an audit event as the schema says. */
export function assertAuditEvent(event: unknown): void {
  assert.ok(validate(event), `${JSON.stringify(event)}: ${JSON.stringify(validate.errors)}`);
}
