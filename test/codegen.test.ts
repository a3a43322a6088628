import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');

// The codegen CLI is ESM-laden (yargs): run it in plain Node rather than inside Jest's module system.
const script = `
const { generate, loadCodegenConfig } = require('@graphql-codegen/cli');
loadCodegenConfig({ configFilePath: 'codegen.yml' })
  .then(({ config }) => generate({ ...config, silent: true }, false))
  .then((outputs) => process.stdout.write(JSON.stringify(outputs)))
  .catch((error) => { console.error(error); process.exit(1); });
`;

describe('codegen', () => {
  it('committed typed documents match the sample operations and the schema (run `npm run codegen`)', () => {
    const outputs = JSON.parse(
      execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }),
    ) as {
      filename: string;
      content: string;
    }[];
    expect(outputs.map((o) => o.filename)).toEqual(['test/fixtures/generated/graphql.ts']);
    expect(readFileSync(join(root, outputs[0].filename), 'utf8')).toBe(outputs[0].content);
  });
});
