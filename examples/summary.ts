// Prints where each synthesized deployment is and what it holds.
import * as fs from 'fs';
import * as path from 'path';

const out = path.join(__dirname, 'cdk.out');
const templates = fs.readdirSync(out).filter((f) => f.endsWith('.template.json')).sort();
console.log('Deployments synthesized (IotBackendReference: the reference architecture; IotBackendFull: every optional part at once):');
for (const file of templates) {
  const counts = new Map<string, number>();
  for (const resource of Object.values<{ Type: string }>(JSON.parse(fs.readFileSync(path.join(out, file), 'utf8')).Resources)) {
    counts.set(resource.Type, (counts.get(resource.Type) ?? 0) + 1);
  }
  console.log(`  ${path.relative(process.cwd(), path.join(out, file))}`);
  for (const [type, n] of [...counts.entries()].sort()) console.log(`    ${String(n).padStart(3)}  ${type}`);
}
