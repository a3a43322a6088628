import { parse } from 'graphql';
import { createOperationCache } from '../../src/server/operation-cache';

describe('createOperationCache', () => {
  it('builds once per operation, and keeps nothing for names that pick no operation', () => {
    const document = parse('query A { __typename } query B { __typename }');
    let builds = 0;
    const cache = createOperationCache((_document, name) => ({ name, build: ++builds }));

    expect(cache(document, 'A')).toBe(cache(document, 'A'));
    expect(cache(document, 'B')).not.toBe(cache(document, 'A'));
    expect(builds).toBe(2);
    // A client may send any name: each is built on the spot and not kept, so they cannot pile up.
    for (let i = 0; i < 1_000; i++) cache(document, `unknown-${i}`);
    expect(builds).toBe(1_002);
    expect(cache(document, 'A').build).toBe(1);
  });

  it('takes the one operation of a document without a name', () => {
    const document = parse('{ __typename }');
    let builds = 0;
    const cache = createOperationCache(() => ++builds);
    expect(cache(document)).toBe(cache(document, null));
    expect(builds).toBe(1);
  });
});
