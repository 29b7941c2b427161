import { storeContractSuite } from '../testing/store-contract.js';
import { MemoryStore } from './memory-store.js';

storeContractSuite('MemoryStore', { create: () => Promise.resolve(new MemoryStore()) });
