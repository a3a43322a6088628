import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType({
  description: 'A mobile network: the one a number was issued to, ported to, or is roaming in.',
  simpleResolvers: true,
})
export class Network {
  @Field(() => String, { nullable: true, description: 'Network (operator) name, e.g. "Swisscom".' })
  networkName?: string | null;

  @Field(() => String, { nullable: true, description: 'National network prefix, e.g. "79".' })
  networkPrefix?: string | null;

  @Field(() => String, { nullable: true, description: 'Country name, e.g. "Switzerland".' })
  countryName?: string | null;

  @Field(() => String, { nullable: true, description: 'Country calling code without "+", e.g. "41".' })
  countryPrefix?: string | null;

  @Field(() => Int, { nullable: true, description: "The provider's network id (newer accounts only)." })
  networkId?: number | null;
}

@ObjectType({
  description: 'Lookup status as reported by the provider (e.g. DELIVERED_TO_HANDSET).',
  simpleResolvers: true,
})
export class LookupStatus {
  @Field(() => Int, {
    description: 'Status group id: 1 PENDING, 2 UNDELIVERABLE, 3 DELIVERED, 4 EXPIRED, 5 REJECTED.',
  })
  groupId!: number;

  @Field(() => String, { description: 'Status group name, e.g. "DELIVERED".' })
  groupName!: string;

  @Field(() => Int, { description: 'Status id, e.g. 5.' })
  id!: number;

  @Field(() => String, { description: 'Status name, e.g. "DELIVERED_TO_HANDSET".' })
  name!: string;

  @Field(() => String, { nullable: true, description: 'Human-readable status description.' })
  description?: string | null;

  @Field(() => String, { nullable: true, description: 'Action the provider suggests, when it gives one.' })
  action?: string | null;
}

@ObjectType({
  description:
    'Network error for the lookup. Group 0 ("OK"/"Ok", compare case-insensitively) with NO_ERROR means none.',
  simpleResolvers: true,
})
export class LookupError {
  @Field(() => Int, {
    description: 'Error group id: 0 OK, 1 HANDSET_ERRORS, 2 USER_ERRORS, 3 OPERATOR_ERRORS.',
  })
  groupId!: number;

  @Field(() => String, { description: 'Error group name, e.g. "HANDSET_ERRORS".' })
  groupName!: string;

  @Field(() => Int, { description: 'Error id, e.g. 27.' })
  id!: number;

  @Field(() => String, { description: 'Error name, e.g. "EC_ABSENT_SUBSCRIBER".' })
  name!: string;

  @Field(() => String, { nullable: true, description: 'Human-readable error description.' })
  description?: string | null;

  @Field(() => Boolean, {
    nullable: true,
    description: 'True when retrying will not help (e.g. unknown subscriber).',
  })
  permanent?: boolean | null;
}

@ObjectType({
  description:
    'The final lookup result for one number. Every field but `to` may be null: what is known depends on the country and the account.',
  simpleResolvers: true,
})
export class NumberLookupResult {
  @Field(() => String, { description: 'The number looked up: international digits without "+".' })
  to!: string;

  @Field(() => String, { nullable: true, description: "The provider's message id for this number." })
  messageId?: string | null;

  @Field(() => String, { nullable: true, description: 'MCC (3 digits) + MNC (2-3 digits), e.g. "22801".' })
  mccMnc?: string | null;

  @Field(() => String, { nullable: true, description: 'International Mobile Subscriber Identity.' })
  imsi?: string | null;

  @Field(() => Network, { nullable: true, description: 'The network the number was originally issued to.' })
  originalNetwork?: Network | null;

  @Field(() => Boolean, { nullable: true, description: 'Whether the number was ported to another network.' })
  ported?: boolean | null;

  @Field(() => Network, { nullable: true, description: 'The network the number was ported to, when ported.' })
  portedNetwork?: Network | null;

  @Field(() => Boolean, { nullable: true, description: 'Whether the subscriber is roaming.' })
  roaming?: boolean | null;

  @Field(() => Network, { nullable: true, description: 'The network the subscriber roams in, when roaming.' })
  roamingNetwork?: Network | null;

  @Field(() => String, {
    nullable: true,
    description: "The serving Mobile Switching Centre (the provider's `servingMSC`).",
  })
  servingMsc?: string | null;

  @Field(() => LookupStatus, { nullable: true, description: 'Lookup status.' })
  status?: LookupStatus | null;

  @Field(() => LookupError, { nullable: true, description: 'Network error, if any.' })
  error?: LookupError | null;
}
