import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printGatewaySchema, SCHEMA_PATH } from '../src/schema';

// npm runs scripts from the repository root.
writeFileSync(join(process.cwd(), SCHEMA_PATH), printGatewaySchema());
console.log(`wrote ${SCHEMA_PATH}`);
