import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { printGatewaySchema, SCHEMA_PATH } from '../src/schema';

describe('schema/schema.graphql', () => {
  it('matches the schema the code builds (run `npm run emit-schema` after changing src/graphql)', () => {
    const committed = readFileSync(join(__dirname, '..', SCHEMA_PATH), 'utf8');
    expect(committed).toBe(printGatewaySchema());
  });

  it('carries the contract operations with their exact signatures', () => {
    const sdl = printGatewaySchema();
    expect(sdl).toMatch(/lookupNumbers\(\s*(""".*"""\s*)?to: \[String!\]!\s*\): \[NumberLookupResult!\]!/s);
    expect(sdl).toMatch(/lookupRequest\(\s*(""".*"""\s*)?id: ID!\s*\): LookupRequest\n/s);
    expect(sdl).toMatch(/lookupLogs\(\s*(""".*"""\s*)?filter: LookupLogFilter\s*\): \[LookupLog!\]!/s);
    expect(sdl).toMatch(/requestLookup\(\s*(""".*"""\s*)?to: \[String!\]!\s*\): LookupRequest!/s);
    expect(sdl).toMatch(/lookupCompleted\(\s*(""".*"""\s*)?requestId: ID!\s*\): NumberLookupResult!/s);
    expect(sdl).toMatch(/enum LookupRequestState \{[^}]*PENDING[^}]*COMPLETED[^}]*EXPIRED/s);
  });
});
