import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type {
  ProviderError,
  ProviderNetwork,
  ProviderResult,
  ProviderStatus,
} from '../upstream/provider-types';

/** The number of the provider's own "Sync vs. Async" example; it answers exactly like the seed page. */
export const SEED_NUMBER = '41793026727';

/** The provider clips longer numbers to this many characters. */
export const MAX_NUMBER_LENGTH = 256;

/** Which outcome a number gets, chosen by its last digit (see {@link scenarioFor}). */
export type LookupScenario =
  | 'delivered'
  | 'absent-subscriber'
  | 'ported'
  | 'roaming'
  | 'unknown-subscriber'
  | 'rejected-network'
  | 'rejected-not-registered'
  | 'invalid-number';

/**
 * Last digit → scenario. Three in ten numbers are reachable, so lists of consecutive numbers show every outcome;
 * 7 is an absent subscriber so that the seed number's neighbours behave like the seed itself.
 */
export const SCENARIO_BY_LAST_DIGIT: readonly LookupScenario[] = [
  'delivered', // 0
  'delivered', // 1
  'delivered', // 2
  'absent-subscriber', // 3
  'ported', // 4
  'roaming', // 5
  'unknown-subscriber', // 6
  'absent-subscriber', // 7
  'rejected-network', // 8
  'rejected-not-registered', // 9
];

/** Provider status objects as the provider spells them. */
export const STATUSES = {
  pendingWaitingDelivery: {
    groupId: 1,
    groupName: 'PENDING',
    id: 3,
    name: 'PENDING_WAITING_DELIVERY',
    description: 'Message sent, waiting for delivery report',
  },
  deliveredToHandset: {
    groupId: 3,
    groupName: 'DELIVERED',
    id: 5,
    name: 'DELIVERED_TO_HANDSET',
    description: 'Message delivered to handset',
  },
  undeliverableNotDelivered: {
    groupId: 2,
    groupName: 'UNDELIVERABLE',
    id: 9,
    name: 'UNDELIVERABLE_NOT_DELIVERED',
    description: 'Message sent not delivered',
  },
  rejectedNetwork: {
    groupId: 5,
    groupName: 'REJECTED',
    id: 6,
    name: 'REJECTED_NETWORK',
    description: 'Network is forbidden',
    action: 'Contact account manager',
  },
  rejectedPrefixMissing: {
    groupId: 5,
    groupName: 'REJECTED',
    id: 8,
    name: 'REJECTED_PREFIX_MISSING',
    description: 'Number prefix missing',
  },
  rejectedDestinationNotRegistered: {
    groupId: 5,
    groupName: 'REJECTED',
    id: 18,
    name: 'REJECTED_DESTINATION_NOT_REGISTERED',
    description: 'Destination not registered',
  },
} as const satisfies Record<string, ProviderStatus>;

/** Provider error objects as the provider spells them. */
export const ERRORS = {
  noError: {
    groupId: 0,
    groupName: 'OK',
    id: 0,
    name: 'NO_ERROR',
    description: 'No Error',
    permanent: false,
  },
  absentSubscriber: {
    groupId: 1,
    groupName: 'HANDSET_ERRORS',
    id: 27,
    name: 'EC_ABSENT_SUBSCRIBER',
    description: 'Absent Subscriber',
    permanent: false,
  },
  unknownSubscriber: {
    groupId: 1,
    groupName: 'HANDSET_ERRORS',
    id: 1,
    name: 'EC_UNKNOWN_SUBSCRIBER',
    description: 'Unknown Subscriber',
    permanent: true,
  },
  invalidDestinationAddress: {
    groupId: 2,
    groupName: 'USER_ERRORS',
    id: 351,
    name: 'EC_INVALID_DESTINATION_ADDRESS',
    description: 'Invalid destination address',
    permanent: true,
  },
} as const satisfies Record<string, ProviderError>;

interface NetworkSpec {
  name: string;
  mccMnc: string;
  /** National-number prefixes issued to this network; empty means "any" (NANP has no mobile prefixes). */
  prefixes: readonly string[];
  /** Simulator-assigned: the provider's real network ids are not published. */
  networkId: number;
}

interface CountrySpec {
  countryName: string;
  /** How many national digits form the network prefix when no listed prefix matches. */
  prefixLength: number;
  networks: readonly NetworkSpec[];
}

const COUNTRIES: ReadonlyMap<string, CountrySpec> = new Map<string, CountrySpec>([
  [
    '41',
    {
      countryName: 'Switzerland',
      prefixLength: 2,
      networks: [
        { name: 'Swisscom', mccMnc: '22801', prefixes: ['79', '75'], networkId: 1_001 },
        { name: 'Sunrise', mccMnc: '22802', prefixes: ['76'], networkId: 1_002 },
        { name: 'Salt', mccMnc: '22803', prefixes: ['78', '77'], networkId: 1_003 },
      ],
    },
  ],
  [
    '385',
    {
      countryName: 'Croatia',
      prefixLength: 2,
      networks: [
        { name: 'Hrvatski Telekom', mccMnc: '21901', prefixes: ['98', '99'], networkId: 2_001 },
        { name: 'Telemach Hrvatska', mccMnc: '21902', prefixes: ['95'], networkId: 2_002 },
        { name: 'A1 Hrvatska', mccMnc: '21910', prefixes: ['91', '92'], networkId: 2_003 },
      ],
    },
  ],
  [
    '49',
    {
      countryName: 'Germany',
      prefixLength: 3,
      networks: [
        {
          name: 'Telekom Deutschland',
          mccMnc: '26201',
          prefixes: ['151', '160', '170', '171', '175'],
          networkId: 3_001,
        },
        {
          name: 'Vodafone Germany',
          mccMnc: '26202',
          prefixes: ['152', '162', '172', '173', '174'],
          networkId: 3_002,
        },
        {
          name: 'Telefonica Germany',
          mccMnc: '26203',
          prefixes: ['157', '159', '163', '176', '177', '178', '179'],
          networkId: 3_003,
        },
      ],
    },
  ],
  [
    '44',
    {
      countryName: 'United Kingdom',
      prefixLength: 2,
      networks: [
        { name: 'EE', mccMnc: '23430', prefixes: ['79', '75'], networkId: 4_001 },
        { name: 'Vodafone UK', mccMnc: '23415', prefixes: ['77'], networkId: 4_002 },
        { name: 'O2 UK', mccMnc: '23410', prefixes: ['78'], networkId: 4_003 },
        { name: 'Three UK', mccMnc: '23420', prefixes: ['74'], networkId: 4_004 },
      ],
    },
  ],
  [
    '1',
    {
      countryName: 'United States',
      prefixLength: 3,
      networks: [
        { name: 'AT&T Mobility', mccMnc: '310410', prefixes: [], networkId: 5_001 },
        { name: 'T-Mobile USA', mccMnc: '310260', prefixes: [], networkId: 5_002 },
        { name: 'Verizon Wireless', mccMnc: '311480', prefixes: [], networkId: 5_003 },
      ],
    },
  ],
]);

/** MCCs for the generic fallback; anything else gets the ITU test network MCC 001. */
const FALLBACK_MCC: Readonly<Record<string, string>> = {
  AT: '232',
  AU: '505',
  BA: '218',
  BE: '206',
  BR: '724',
  CA: '302',
  CN: '460',
  ES: '214',
  FR: '208',
  IN: '404',
  IT: '222',
  JP: '440',
  NL: '204',
  PL: '260',
  RS: '220',
  SE: '240',
  SI: '293',
};

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });
const fallbackCountries = new Map<string, CountrySpec>();

function fallbackCountry(callingCode: string, region: string | undefined): CountrySpec {
  const key = `${callingCode}/${region ?? ''}`;
  let spec = fallbackCountries.get(key);
  if (!spec) {
    const countryName = (region && regionNames.of(region)) || `+${callingCode}`;
    const mcc = (region && FALLBACK_MCC[region]) || '001';
    spec = {
      countryName,
      prefixLength: 2,
      networks: [
        { name: `${countryName} Mobile One`, mccMnc: `${mcc}01`, prefixes: [], networkId: 9_001 },
        { name: `${countryName} Mobile Two`, mccMnc: `${mcc}02`, prefixes: [], networkId: 9_002 },
      ],
    };
    fallbackCountries.set(key, spec);
  }
  return spec;
}

/** FNV-1a: a stable hash so every derived digit is the same on every run and every machine. */
function hash(text: string): number {
  let h = 0x81_1c_9d_c5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01_00_01_93);
  }
  return h >>> 0;
}

function digits(seed: number, count: number): string {
  let out = '';
  let state = seed || 1;
  for (let i = 0; i < count; i++) {
    // xorshift32: cheap, deterministic, and good enough to make IMSIs look unrelated to the number
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out += String((state >>> 0) % 10);
  }
  return out;
}

function networkOf(
  spec: NetworkSpec,
  country: CountrySpec,
  callingCode: string,
  prefix: string,
): ProviderNetwork {
  return {
    networkName: spec.name,
    networkPrefix: prefix,
    countryName: country.countryName,
    countryPrefix: callingCode,
    networkId: spec.networkId,
  };
}

function imsiFor(mccMnc: string, seed: number): string {
  return mccMnc + digits(seed, 15 - mccMnc.length);
}

function mscFor(callingCode: string, prefix: string, seed: number): string {
  return callingCode + prefix + digits(seed ^ 0x5f_5f, Math.max(4, 12 - callingCode.length - prefix.length));
}

/** The scenario a (clipped) number gets; invalid numbers never reach the digit table. */
export function scenarioFor(to: string): LookupScenario {
  if (!/^[0-9]+$/.test(to) || !parsePhoneNumberFromString('+' + to)) return 'invalid-number';
  return SCENARIO_BY_LAST_DIGIT[to.charCodeAt(to.length - 1) - 48];
}

/**
 * The simulator's final result for one number: pure and deterministic, a fresh object on every call.
 * `41793026727` answers exactly as the provider's seed page; other numbers get the scenario of their last digit
 * ({@link SCENARIO_BY_LAST_DIGIT}) with networks from a small table of real operators (CH, HR, DE, GB, US) or a
 * generic fallback per country. Numbers with non-digits, or that libphonenumber cannot parse, are
 * `REJECTED_PREFIX_MISSING`. Never throws; numbers longer than 256 characters are clipped first.
 */
export function simulateLookup(input: string): ProviderResult {
  const to = input.length > MAX_NUMBER_LENGTH ? input.slice(0, MAX_NUMBER_LENGTH) : input;
  if (to === SEED_NUMBER) {
    return {
      to,
      mccMnc: '22801',
      originalNetwork: { networkPrefix: '79', countryPrefix: '41' },
      ported: false,
      roaming: false,
      status: { ...STATUSES.undeliverableNotDelivered },
      error: { ...ERRORS.absentSubscriber },
    };
  }
  const phone = /^[0-9]+$/.test(to) ? parsePhoneNumberFromString('+' + to) : undefined;
  if (!phone) {
    return {
      to,
      status: { ...STATUSES.rejectedPrefixMissing },
      error: { ...ERRORS.invalidDestinationAddress },
    };
  }

  const callingCode = phone.countryCallingCode as string;
  const national = phone.nationalNumber as string;
  const country = COUNTRIES.get(callingCode) ?? fallbackCountry(callingCode, phone.country);
  const seed = hash(to);
  let home: NetworkSpec | undefined;
  let prefix = '';
  for (const candidate of country.networks) {
    const match = candidate.prefixes.find((p) => national.startsWith(p));
    if (match) {
      home = candidate;
      prefix = match;
      break;
    }
  }
  if (!home) {
    home = country.networks[seed % country.networks.length];
    prefix = national.slice(0, country.prefixLength);
  }
  const originalNetwork = networkOf(home, country, callingCode, prefix);
  const scenario = SCENARIO_BY_LAST_DIGIT[to.charCodeAt(to.length - 1) - 48];

  switch (scenario) {
    case 'ported': {
      const target = country.networks[(country.networks.indexOf(home) + 1) % country.networks.length];
      const targetPrefix = target.prefixes[0] ?? prefix;
      // after porting the subscriber's SIM (so IMSI and MCC/MNC) belongs to the new network
      return {
        to,
        mccMnc: target.mccMnc,
        imsi: imsiFor(target.mccMnc, seed),
        originalNetwork,
        ported: true,
        portedNetwork: networkOf(target, country, callingCode, targetPrefix),
        roaming: false,
        servingMSC: mscFor(callingCode, targetPrefix, seed),
        status: { ...STATUSES.deliveredToHandset },
        error: { ...ERRORS.noError },
      };
    }
    case 'roaming': {
      const visitedCode = callingCode === '41' ? '49' : '41';
      const visited = COUNTRIES.get(visitedCode) as CountrySpec;
      const visitedSpec = visited.networks[seed % visited.networks.length];
      const visitedPrefix = visitedSpec.prefixes[0];
      // the IMSI stays home; only the serving MSC is abroad
      return {
        to,
        mccMnc: home.mccMnc,
        imsi: imsiFor(home.mccMnc, seed),
        originalNetwork,
        ported: false,
        roaming: true,
        roamingNetwork: networkOf(visitedSpec, visited, visitedCode, visitedPrefix),
        servingMSC: mscFor(visitedCode, visitedPrefix, seed),
        status: { ...STATUSES.deliveredToHandset },
        error: { ...ERRORS.noError },
      };
    }
    case 'absent-subscriber':
      // the HLR still knows the IMSI, but an absent handset is attached to no MSC
      return {
        to,
        mccMnc: home.mccMnc,
        imsi: imsiFor(home.mccMnc, seed),
        originalNetwork,
        ported: false,
        roaming: false,
        status: { ...STATUSES.undeliverableNotDelivered },
        error: { ...ERRORS.absentSubscriber },
      };
    case 'unknown-subscriber':
      // an unknown subscriber has no IMSI and no MSC: only the prefix-derived network is known
      return {
        to,
        mccMnc: home.mccMnc,
        originalNetwork,
        ported: false,
        roaming: false,
        status: { ...STATUSES.undeliverableNotDelivered },
        error: { ...ERRORS.unknownSubscriber },
      };
    case 'rejected-network':
      return {
        to,
        mccMnc: home.mccMnc,
        originalNetwork,
        status: { ...STATUSES.rejectedNetwork },
        error: { ...ERRORS.noError },
      };
    case 'rejected-not-registered':
      return {
        to,
        mccMnc: home.mccMnc,
        originalNetwork,
        status: { ...STATUSES.rejectedDestinationNotRegistered },
        error: { ...ERRORS.noError },
      };
    default:
      return {
        to,
        mccMnc: home.mccMnc,
        imsi: imsiFor(home.mccMnc, seed),
        originalNetwork,
        ported: false,
        roaming: false,
        servingMSC: mscFor(callingCode, prefix, seed),
        status: { ...STATUSES.deliveredToHandset },
        error: { ...ERRORS.noError },
      };
  }
}
