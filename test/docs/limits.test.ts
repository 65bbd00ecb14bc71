import { readFileSync } from 'fs';
import { LIMITS_PAGE, limitsPage } from '../../docs/limits-table';

test('docs/limits.md is the table the handlers validate against today (npx projen docs:limits writes it)', () => {
  expect(readFileSync(LIMITS_PAGE, 'utf8')).toBe(limitsPage());
});

