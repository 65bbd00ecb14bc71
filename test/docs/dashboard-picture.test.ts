import { readFileSync } from 'fs';
import { dashboardWidgets, drawDashboard, PICTURE } from '../../docs/dashboard-picture';

test('docs/dashboard.svg is the layout the pipeline synthesizes today (npx projen docs:dashboard redraws it)', () => {
  const widgets = dashboardWidgets();
  expect(widgets.map((w) => w.properties.title)).toEqual([
    'Incoming records', 'Incoming bytes', 'Stream throughput exceeded',
    'Iterator age per consumer (ms, max)', 'Readings stored', 'Dead letters and failed batches',
    'Invocations', 'Errors and throttles', 'Duration (ms, p99)',
    'Archive objects written', 'Sensor metric, top 10 sensors',
    'Alarms',
  ]);
  expect(readFileSync(PICTURE, 'utf8')).toBe(drawDashboard(widgets));
});
