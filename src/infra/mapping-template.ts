/**
 * Velocity (VTL) templates for the `POST /v1/events` -> Kinesis `PutRecords` integration.
 *
 * The contract (docs/design.md): one Kinesis record = one DeviceEvent as UTF-8 JSON, partition key
 * = `deviceId`, order kept. The request validator runs before these templates, so every event has
 * a `deviceId` matching `^[A-Za-z0-9][A-Za-z0-9._:-]*$` (nothing to escape in a JSON string) and a
 * batch has at most 500 events (API Gateway caps `#foreach` at 1,000 iterations).
 *
 * Terraform interpolates `${...}` and `%{...}` inside strings, so the templates use only the
 * shorthand `$name` Velocity references, never the formal `${name}` notation.
 */

/** Content type Kinesis' JSON protocol expects from the integration request. */
export const KINESIS_CONTENT_TYPE = 'application/x-amz-json-1.1';

/**
 * Request template: the API body `{"events":[...]}` becomes a PutRecords request.
 * `$input.json` re-serialises each event exactly as received (so `Data` decodes to the event's
 * JSON), `$util.base64Encode` encodes it as Kinesis' `Data` blob.
 *
 * @param streamName the stream's name (a Terraform token in the stack; resolved before deploy).
 */
export function putRecordsRequestTemplate(streamName: string): string {
  return [
    "#set($events = $input.path('$.events'))",
    '{',
    `  "StreamName": "${streamName}",`,
    '  "Records": [',
    '#foreach($event in $events)',
    '    {',
    '      "Data": "$util.base64Encode($input.json("$.events[$foreach.index]"))",',
    '      "PartitionKey": "$event.deviceId"',
    '    }#if($foreach.hasNext),#end',
    '',
    '#end',
    '  ]',
    '}',
  ].join('\n');
}

/** HTTP status returned when Kinesis accepted only part of a batch (see the response template). */
export const PARTIAL_FAILURE_STATUS = 503;

/** API Gateway's default messages, shared with the local ingest server (src/ingest/server.ts). */
export const SERVICE_UNAVAILABLE_MESSAGE = 'Service Unavailable';
export const INTERNAL_ERROR_MESSAGE = 'Internal server error';

/**
 * Response template for a 200 from Kinesis. PutRecords is not atomic: it returns 200 even when
 * some records failed (throughput exceeded, KMS throttling). The client gets how many were
 * accepted, `FailedRecordCount`, and the index and error code of each failed event so it can
 * resend exactly those; and when any failed the status becomes 503, so a client that only looks
 * at the status code retries (the processor deduplicates by `eventId`, so resending is safe).
 * Kinesis' `ErrorMessage` is not echoed: it names shards and the account, nothing a client needs.
 */
export const PUT_RECORDS_RESPONSE_TEMPLATE = [
  "#set($response = $input.path('$'))",
  '#set($failedCount = $response.FailedRecordCount)',
  '#set($acceptedCount = $response.Records.size() - $failedCount)',
  `#if($failedCount > 0)#set($context.responseOverride.status = ${PARTIAL_FAILURE_STATUS})#end`,
  '{',
  `#if($failedCount > 0)  "message": "${SERVICE_UNAVAILABLE_MESSAGE}",#end`,
  '  "accepted": $acceptedCount,',
  '  "FailedRecordCount": $failedCount,',
  '  "failed": [',
  '#set($listed = 0)',
  '#foreach($record in $response.Records)',
  '#if($record.ErrorCode)',
  '#if($listed > 0),#end',
  '    {"index": $foreach.index, "errorCode": "$record.ErrorCode"}',
  '#set($listed = $listed + 1)',
  '#end',
  '#end',
  '  ],',
  '  "requestId": "$context.requestId"',
  '}',
].join('\n');

/**
 * Body for Kinesis' own errors (4XX: access, KMS, stream state -> 500; 5XX: service -> 503). The
 * request was valid, so these are never the client's fault: API Gateway's default message and the
 * request id operators can find in the access log, never Kinesis' message (it may name resources).
 */
export function integrationErrorTemplate(message: string): string {
  return `{"message": "${message}", "requestId": "$context.requestId"}`;
}

/**
 * Gateway response for `BAD_REQUEST_BODY` (request validator failures). Deliberately a fixed message:
 * API Gateway's `$context.error.validationErrorString` quotes the rejected value (e.g. `input string
 * "<patient id>"`), and patient identifiers never appear in error messages. Gateway response
 * templates only substitute variables, so the value cannot be stripped. Clients find the offending
 * field by validating against the published schema (the same file the model is built from); the
 * local ingest server, which controls its messages, names the field without the value.
 */
export const BAD_REQUEST_BODY_TEMPLATE =
  '{"message": "Invalid request body: it does not match the DeviceEventBatch v1 schema", "schema": "device-event.v1.schema.json", "requestId": "$context.requestId"}';

/** Body of the `GET /v1/health` mock integration. */
export const HEALTH_RESPONSE_TEMPLATE = '{"status": "ok"}';

/** Request template that makes a MOCK integration answer 200. */
export const MOCK_200_REQUEST_TEMPLATE = '{"statusCode": 200}';
