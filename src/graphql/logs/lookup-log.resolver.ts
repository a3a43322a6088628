import { Arg, Ctx, Query, Resolver } from 'type-graphql';
import type { LookupLogData } from '../../lookup/lookup-service';
import type { GatewayContext } from '../context';
import { LookupLogFilter } from './lookup-log-filter.input';
import { LookupLog } from './lookup-log.type';

@Resolver()
export class LookupLogResolver {
  @Query(() => [LookupLog], { description: 'History of sent lookups (provider GET /number/1/logs).' })
  async lookupLogs(
    @Arg('filter', () => LookupLogFilter, { nullable: true, description: 'Which lookups to return.' })
    filter: LookupLogFilter | null,
    @Ctx() { service, requestId }: GatewayContext,
  ): Promise<LookupLogData[]> {
    return service.lookupLogs(filter ?? {}, { requestId });
  }
}
