/**
 * Writes the test page's config.json from the outputs of a deployed stack:
 *
 *   npx cdk deploy --outputs-file outputs.json
 *   npx ts-node --transpile-only --project ../tsconfig.dev.json page-config.ts outputs.json ../local/page/config.json
 *
 * The page then takes temporary credentials from the stack's Cognito identity
 * pool (IdentityPoolId output); no key goes into the page.
 */
import { readFileSync, writeFileSync } from 'fs';
import { DeployOutputs, pageConfigFromOutputs, PageConfig } from '../local/src/runner/page-config';

export function writePageConfig(outputsFile: string, configFile: string, stack?: string): PageConfig {
  const outputs = JSON.parse(readFileSync(outputsFile, 'utf8')) as DeployOutputs;
  const config = pageConfigFromOutputs(outputs, { stack });
  writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  return config;
}

if (require.main === module) {
  const [outputsFile, configFile = 'config.json', stack] = process.argv.slice(2);
  if (!outputsFile) {
    console.error('usage: page-config.ts <cdk outputs file> [config.json] [stack name]');
    process.exit(2);
  }
  try {
    const config = writePageConfig(outputsFile, configFile, stack);
    console.log(`${configFile}: stream ${config.streamName}, query function ${config.queryFunctionName}, identity pool ${config.identityPoolId}`);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
  }
}
