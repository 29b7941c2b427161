export { serveDirectory, type ServedDirectory } from './serve-directory.js';
