import { DateTimeISO } from '../scalars';
import { Field, Float, ObjectType } from 'type-graphql';
import { LookupError, LookupStatus } from '../lookup/number-lookup-result.type';

@ObjectType({ description: 'Price of one lookup.', simpleResolvers: true })
export class LookupPrice {
  @Field(() => String, { description: 'ISO 4217 currency code, e.g. "EUR".' })
  currency!: string;

  @Field(() => Float, { description: 'Price of one lookup in that currency.' })
  pricePerLookup!: number;
}

@ObjectType({
  description: 'One sent lookup from the history (provider GET /number/1/logs, last 48 hours).',
  simpleResolvers: true,
})
export class LookupLog {
  @Field(() => String, { nullable: true, description: "The provider's bulk id." })
  bulkId?: string | null;

  @Field(() => String, { nullable: true, description: "The provider's message id." })
  messageId?: string | null;

  @Field(() => String, { description: 'The number looked up.' })
  to!: string;

  @Field(() => DateTimeISO, { nullable: true, description: 'When the lookup was sent.' })
  sentAt?: string | null;

  @Field(() => DateTimeISO, { nullable: true, description: 'When the lookup was done.' })
  doneAt?: string | null;

  @Field(() => String, { nullable: true, description: 'MCC + MNC of the network.' })
  mccMnc?: string | null;

  @Field(() => LookupPrice, { nullable: true, description: 'What the lookup cost.' })
  price?: LookupPrice | null;

  @Field(() => LookupStatus, { nullable: true, description: 'Lookup status.' })
  status?: LookupStatus | null;

  @Field(() => LookupError, { nullable: true, description: 'Network error, if any.' })
  error?: LookupError | null;
}
