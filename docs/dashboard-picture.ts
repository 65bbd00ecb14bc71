/**
 * Draws the layout of the pipeline's CloudWatch dashboard as an SVG picture,
 * from the dashboard body a pipeline synthesizes (`dashboard: true`): each
 * widget where CloudWatch puts it, with its title and the lines it draws.
 *
 *   npx projen docs:dashboard     (writes docs/dashboard.svg)
 *
 * A test checks that docs/dashboard.svg is what this draws today.
 */
import { writeFileSync } from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SensorIngestPipeline } from '../src';

const UNIT_X = 40; // px per dashboard column (24 columns)
const UNIT_Y = 26; // px per dashboard row
const MARGIN = 12;

interface Widget {
  readonly type: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly properties: { readonly title?: string; readonly metrics?: unknown[][]; readonly alarms?: unknown[] };
}

/** The dashboard body, its references replaced by the construct they name. */
function resolveBody(body: unknown): string {
  if (typeof body === 'string') return body;
  const v = body as Record<string, any>;
  if (v['Fn::Join']) return v['Fn::Join'][1].map(resolveBody).join(v['Fn::Join'][0]);
  if (v.Ref) return String(v.Ref).replace(/[0-9A-F]{8}$/, '');
  if (v['Fn::GetAtt']) return String(v['Fn::GetAtt'][0]).replace(/[0-9A-F]{8}$/, '');
  throw new Error(`cannot draw ${JSON.stringify(body)}`);
}

/** The widgets of a default pipeline's dashboard. */
export function dashboardWidgets(): Widget[] {
  const stack = new Stack(new App(), 'Picture', { env: { account: '111111111111', region: 'eu-west-1' } });
  new SensorIngestPipeline(stack, 'Pipeline', { dashboard: true });
  const dashboard = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'))[0];
  return JSON.parse(resolveBody(dashboard.Properties.DashboardBody)).widgets;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** What a graph draws, one label per line: the metric's label, or its expression. */
function lineLabels(widget: Widget): string[] {
  return (widget.properties.metrics ?? []).map((m) => {
    const options = m[m.length - 1] as { label?: string; expression?: string };
    if (typeof options === 'object' && options !== null) return options.label ?? options.expression ?? '';
    return String(m[1]);
  });
}

export function drawDashboard(widgets: readonly Widget[]): string {
  const width = 24 * UNIT_X + 2 * MARGIN;
  const height = Math.max(...widgets.map((w) => w.y + w.height)) * UNIT_Y + 2 * MARGIN;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#f4f5f7"/>`,
  ];
  for (const w of widgets) {
    const x = MARGIN + w.x * UNIT_X + 3;
    const y = MARGIN + w.y * UNIT_Y + 3;
    const wd = w.width * UNIT_X - 6;
    const ht = w.height * UNIT_Y - 6;
    parts.push(`<rect x="${x}" y="${y}" width="${wd}" height="${ht}" rx="4" fill="#ffffff" stroke="#c6cbd1"/>`);
    parts.push(`<text x="${x + 10}" y="${y + 20}" font-size="13" font-weight="bold" fill="#16191f">${escape(w.properties.title ?? w.type)}</text>`);
    if (w.type === 'alarm') {
      const alarms = w.properties.alarms ?? [];
      const per = Math.max(1, Math.floor((wd - 20) / 156));
      alarms.forEach((alarm, i) => {
        const ax = x + 10 + (i % per) * 156;
        const ay = y + 30 + Math.floor(i / per) * 20;
        const name = String(alarm).split(':').pop()!.replace(/^PipelineAlarms/, '');
        parts.push(`<rect x="${ax}" y="${ay}" width="150" height="16" rx="3" fill="#e9f5ea" stroke="#1d8102"/>`);
        parts.push(`<text x="${ax + 5}" y="${ay + 12}" font-size="9" fill="#1d8102">${escape(name.slice(0, 30))}</text>`);
      });
      continue;
    }
    const labels = lineLabels(w);
    const colors = ['#0073bb', '#ec7211', '#1d8102', '#d13212', '#8456ce', '#5f6b7a'];
    // A sketch of the graph: one line per metric, then its legend.
    const gx = x + 10;
    const gy = y + 30;
    const gw = wd - 20;
    // The legend: one column, or two when there are more than three lines.
    const columns = labels.length > 3 ? 2 : 1;
    const rows = Math.ceil(labels.length / columns);
    const gh = ht - 40 - 14 * rows;
    parts.push(`<line x1="${gx}" y1="${gy + gh}" x2="${gx + gw}" y2="${gy + gh}" stroke="#d5dbdb"/>`);
    labels.forEach((label, i) => {
      const color = colors[i % colors.length];
      const points = Array.from({ length: 12 }, (_, k) => {
        const px = gx + (k * gw) / 11;
        const py = gy + gh * (0.35 + 0.45 * Math.abs(Math.sin((k + 1) * (i + 2) * 0.7)));
        return `${px.toFixed(1)},${py.toFixed(1)}`;
      }).join(' ');
      parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
      const lx = gx + Math.floor(i / rows) * (gw / columns);
      const ly = gy + gh + 14 + (i % rows) * 14;
      parts.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`);
      parts.push(`<text x="${lx + 16}" y="${ly - 3}" font-size="10" fill="#414d5c">${escape(label.slice(0, Math.floor(gw / columns / 6)))}</text>`);
    });
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export const PICTURE = path.join(__dirname, 'dashboard.svg');

if (require.main === module) {
  writeFileSync(PICTURE, drawDashboard(dashboardWidgets()));
  console.log(`wrote ${PICTURE}`);
}
