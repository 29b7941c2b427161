export { createDockerGridPlugin } from './create-docker-grid-plugin.js';
export { LoadArchiveCommand, type LoadArchiveParams } from './load-archive-command.js';
