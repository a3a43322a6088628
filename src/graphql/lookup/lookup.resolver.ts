import { Arg, Ctx, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { LookupResultData } from '../../lookup/lookup-result';
import type { RequestRecord } from '../../requests/request-store';
import type { GatewayContext } from '../context';
import { LookupRequest, LookupRequestState } from './lookup-request.type';
import { NumberLookupResult } from './number-lookup-result.type';

function toLookupRequest(record: RequestRecord): LookupRequest {
  // Leaf values go out unserialised (graphql-jit): a state this version does not know (a record written by
  // another) must fail here rather than leave a hole in the response.
  if (!(record.state in LookupRequestState)) throw new Error(`unknown request state ${record.state}`);
  return {
    id: record.id,
    bulkId: record.bulkIds[0] ?? null,
    bulkIds: record.bulkIds,
    to: record.to,
    state: LookupRequestState[record.state],
    results: record.results,
    createdAt: record.createdAt,
    completedAt: record.completedAt ?? null,
    expiresAt: record.expiresAt,
  };
}

@Resolver()
export class LookupResolver {
  @Query(() => [NumberLookupResult], {
    description:
      'Synchronous lookup (provider POST /number/1/query). One result per input entry, in input order. ' +
      'Numbers may be typed as people do ("+41 79 302 67 27", "0041…"); duplicates are looked up once.',
  })
  async lookupNumbers(
    @Arg('to', () => [String], { description: 'Phone numbers in international format.' }) to: string[],
    @Ctx() { service, requestId }: GatewayContext,
  ): Promise<LookupResultData[]> {
    return service.lookupNumbers(to, { requestId });
  }

  @Query(() => LookupRequest, {
    nullable: true,
    description:
      "An asynchronous request's state and the results received so far; null if unknown or expired.",
  })
  async lookupRequest(
    @Arg('id', () => ID, { description: 'The id requestLookup returned.' }) id: string,
    @Ctx() { registry, clientId }: GatewayContext,
  ): Promise<LookupRequest | null> {
    const record = await registry.get(id, clientId);
    return record ? toLookupRequest(record) : null;
  }

  @Mutation(() => LookupRequest, {
    description:
      'Starts an asynchronous lookup (provider POST /number/1/notify). Results arrive on lookupCompleted.',
  })
  async requestLookup(
    @Arg('to', () => [String], { description: 'Phone numbers in international format.' }) to: string[],
    @Ctx() { service, clientId, requestId }: GatewayContext,
  ): Promise<LookupRequest> {
    return toLookupRequest(await service.requestLookup(to, clientId, { requestId }));
  }

  @Subscription(() => NumberLookupResult, {
    description:
      'One event per number as its final result arrives. Results that arrived before the client subscribed are ' +
      'replayed first. The subscription completes once every number of the request has a result, or the ' +
      'request expired. Each number is sent at most once per subscription.',
    subscribe: ({ args, context }) =>
      (context as GatewayContext).registry.watch(
        (args as { requestId: string }).requestId,
        (context as GatewayContext).clientId,
      ),
  })
  lookupCompleted(
    @Arg('requestId', () => ID, { description: 'The id requestLookup returned.' }) _requestId: string,
    @Root() result: LookupResultData,
  ): LookupResultData {
    return result;
  }
}
