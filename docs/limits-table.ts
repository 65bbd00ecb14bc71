/**
 * Writes docs/limits.md, the table of every limit a reading crosses on its
 * way, from the one the handlers validate against
 * (src/private/service-limits.ts):
 *
 *   npx projen docs:limits     (writes docs/limits.md)
 *
 * A test checks that docs/limits.md is what this writes today.
 */
import { writeFileSync } from 'fs';
import * as path from 'path';
import { LIMITS } from '../src/private/service-limits';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function limitsPage(): string {
  return [
    '<!-- Written by docs/limits-table.ts from src/private/service-limits.ts (npx projen docs:limits); do not edit by hand. -->',
    '# Limits a reading meets on its way',
    '',
    'Each service a reading reaches refuses some values, and refuses them for a whole request:',
    'one number DynamoDB cannot hold fails the 24 other readings of its BatchWriteItem, one',
    'character SQS does not take fails a dead letter, one timestamp CloudWatch does not take',
    'fails up to 1,000 metric data. The processor checks every reading against this table',
    'before any request, so that no value can fail another. Where the documentation of a',
    'limit has changed over time, the stricter figure is the one kept.',
    '',
    '| service | limit | past it, the service | the pipeline | source |',
    '| --- | --- | --- | --- | --- |',
    ...LIMITS.map((l) => `| ${[l.service, l.limit, l.pastIt, l.pipeline, l.source].map(cell).join(' | ')} |`),
    '',
  ].join('\n');
}

export const LIMITS_PAGE = path.join(__dirname, 'limits.md');

if (require.main === module) {
  writeFileSync(LIMITS_PAGE, limitsPage());
  console.log(`wrote ${LIMITS_PAGE}`);
}
