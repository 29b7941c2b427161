import { DockerError } from '../errors/docker-error.js';

/** Docker's container name rule. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Turns free text into a name part: invalid characters become '-', runs collapse, no leading separator. */
function sanitizeNamePart(text: string): string {
  const cleaned = text
    .replace(/[^a-zA-Z0-9_.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^a-zA-Z0-9]+/, '')
    .replace(/[-_.]+$/, '');
  return cleaned.slice(0, 60) || 'job';
}

/** The short id in a container name: the first 12 hex digits of the job id. */
export function shortId(jobId: string): string {
  return jobId
    .replace(/[^a-fA-F0-9]/g, '')
    .slice(0, 12)
    .toLowerCase();
}

/** `<project>-<step>-<short id>`, sanitised to Docker's name rule. */
export function containerName(project: string, step: string, jobId: string): string {
  return `${sanitizeNamePart(project)}-${sanitizeNamePart(step)}-${shortId(jobId)}`;
}

/** Checks an explicit name (a `--name` given by a person) against Docker's rule. */
export function checkContainerName(name: string): string {
  if (!CONTAINER_NAME.test(name)) {
    throw new DockerError(
      'DOCKER_SPEC_INVALID',
      `container name "${name}" must match ${CONTAINER_NAME.source}`,
      {
        details: { name },
      },
    );
  }
  return name;
}
