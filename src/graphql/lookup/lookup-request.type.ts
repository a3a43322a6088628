import { DateTimeISO } from '../scalars';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { NumberLookupResult } from './number-lookup-result.type';

/** State of an asynchronous lookup request. */
export enum LookupRequestState {
  PENDING = 'PENDING',
  COMPLETED = 'COMPLETED',
  EXPIRED = 'EXPIRED',
}

registerEnumType(LookupRequestState, {
  name: 'LookupRequestState',
  description: 'State of an asynchronous lookup request.',
  valuesConfig: {
    PENDING: { description: 'Waiting for results from the provider.' },
    COMPLETED: { description: 'Every number has its final result.' },
    EXPIRED: { description: 'The async result timeout passed before every number had a result.' },
  },
});

@ObjectType({
  description: 'An asynchronous lookup request (provider POST /number/1/notify) and its results so far.',
  simpleResolvers: true,
})
export class LookupRequest {
  @Field(() => ID, {
    description: 'Unguessable request id (UUID v4): pass it to lookupCompleted and lookupRequest.',
  })
  id!: string;

  @Field(() => String, {
    nullable: true,
    description: "The provider's bulk id, once it acknowledged the request (the first one if it was split).",
  })
  bulkId?: string | null;

  @Field(() => [String], {
    description: 'Every bulk id the provider gave (one per provider call of up to 1000 numbers).',
  })
  bulkIds!: string[];

  @Field(() => [String], { description: 'Normalized numbers, in request order, duplicates removed.' })
  to!: string[];

  @Field(() => LookupRequestState, { description: 'PENDING, COMPLETED or EXPIRED.' })
  state!: LookupRequestState;

  @Field(() => [NumberLookupResult], { description: 'Final results received so far, in arrival order.' })
  results!: NumberLookupResult[];

  @Field(() => DateTimeISO, { description: 'When the request was created.' })
  createdAt!: string;

  @Field(() => DateTimeISO, {
    nullable: true,
    description: 'When the last result arrived (COMPLETED) or the request expired (EXPIRED).',
  })
  completedAt?: string | null;

  @Field(() => DateTimeISO, { description: 'When a still-pending request becomes EXPIRED.' })
  expiresAt!: string;
}
