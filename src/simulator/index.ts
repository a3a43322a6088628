/**
 * The built-in provider simulator: a local stand-in for Infobip's Number Lookup API for tests, the benchmark
 * and client developers (`npm run simulator`). Start it with `startProviderSimulator()`, always `dispose()` it.
 */
export type {
  CallbackBehaviour,
  Fault,
  FaultEndpoint,
  ProviderSimulator,
  RecordedCallback,
  RecordedRequest,
  SimulatorFaults,
  SimulatorOptions,
} from './types';
export {
  DEFAULT_CALLBACK_DELAY_MS,
  DEFAULT_SIMULATOR_API_KEY,
  LOGS_RATE_LIMIT,
  LOGS_WINDOW_MS,
  MAX_NUMBERS_PER_REQUEST,
  startProviderSimulator,
} from './simulator';
export {
  SCENARIO_BY_LAST_DIGIT,
  SEED_NUMBER,
  scenarioFor,
  simulateLookup,
  type LookupScenario,
} from './scenarios';
export { formatProviderDate, parseProviderDate } from './provider-dates';
