export { isCI, requireService } from './require-service.js';
export { runnerContractSuite, type RunnerContractOptions } from './runner-contract.js';
export { storeContractSuite, type StoreContractOptions } from './store-contract.js';
