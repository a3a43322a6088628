import { DateTimeISO } from '../scalars';
import { Field, InputType, Int } from 'type-graphql';

@InputType({
  description: 'Filter of the lookup history. Every field is optional; the provider keeps 48 hours.',
})
export class LookupLogFilter {
  @Field(() => String, { nullable: true, description: 'Only this number (any accepted format).' })
  to?: string | null;

  @Field(() => [String], { nullable: true, description: 'Only these bulk ids (at most 100).' })
  bulkIds?: string[] | null;

  @Field(() => [String], { nullable: true, description: 'Only these message ids (at most 100).' })
  messageIds?: string[] | null;

  @Field(() => String, {
    nullable: true,
    description: 'ACCEPTED, PENDING, UNDELIVERABLE, DELIVERED, EXPIRED or REJECTED.',
  })
  generalStatus?: string | null;

  @Field(() => DateTimeISO, { nullable: true, description: 'Sent at or after this time.' })
  sentSince?: Date | null;

  @Field(() => DateTimeISO, { nullable: true, description: 'Sent at or before this time.' })
  sentUntil?: Date | null;

  @Field(() => Int, { nullable: true, description: 'Most entries to return: 1 to 1000, default 50.' })
  limit?: number | null;

  @Field(() => String, { nullable: true, description: 'Mobile country code (3 digits).' })
  mcc?: string | null;

  @Field(() => String, { nullable: true, description: 'Mobile network code (2-3 digits); requires mcc.' })
  mnc?: string | null;
}
