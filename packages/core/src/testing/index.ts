export { isCI, requireService } from './require-service.js';
