// Prints where the synthesized reference deployment is and what it holds.
import * as fs from 'fs';
import * as path from 'path';

const out = path.join(__dirname, 'cdk.out');
const templates = fs.readdirSync(out).filter((f) => f.endsWith('.template.json')).map((f) => path.join(out, f));
const counts = new Map<string, number>();
for (const file of templates) {
  for (const resource of Object.values<{ Type: string }>(JSON.parse(fs.readFileSync(file, 'utf8')).Resources)) {
    counts.set(resource.Type, (counts.get(resource.Type) ?? 0) + 1);
  }
}
console.log('Reference deployment synthesized:');
for (const file of templates) console.log(`  ${path.relative(process.cwd(), file)}`);
console.log('Resources:');
for (const [type, n] of [...counts.entries()].sort()) console.log(`  ${String(n).padStart(3)}  ${type}`);
