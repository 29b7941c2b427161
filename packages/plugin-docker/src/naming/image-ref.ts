import { DockerError } from '../errors/docker-error.js';

/** A parsed image reference. `tag` or `digest` (or both) is always set: untagged references are refused. */
export interface ImageRef {
  /** Repository with registry, e.g. `ghcr.io/org/app`. */
  repository: string;
  tag?: string;
  digest?: string;
  /** Set when the reference is a bare image ID (`sha256:<hex>`). */
  id?: string;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const IMAGE_ID = /^sha256:[a-f0-9]{64}$/;
const REPOSITORY =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * Parses an image reference and enforces the tag policy: a reference without a tag or digest would
 * silently mean `latest` (dockerode adds it, pitfall 6), and `latest` itself is mutable and overwritten
 * by every local build, so both are refused with `DOCKER_IMAGE_REF_INVALID`.
 */
export function parseImageRef(ref: string): ImageRef {
  const invalid = (why: string): DockerError =>
    new DockerError('DOCKER_IMAGE_REF_INVALID', `image reference "${ref}" ${why}`, {
      details: { image: ref },
    });
  if (IMAGE_ID.test(ref)) return { repository: '', id: ref };
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid('has a malformed digest');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid('has a malformed tag');
  }
  if (!REPOSITORY.test(rest))
    throw invalid('has a malformed repository name (lower case, digits, separators)');
  if (tag === undefined && digest === undefined) {
    throw invalid('has no tag or digest; give an explicit version (untagged would silently mean "latest")');
  }
  if (tag === 'latest')
    throw invalid('uses the mutable tag "latest"; use a version or date tag, or a digest');
  return {
    repository: rest,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** Validates a reference and returns it unchanged (for call sites that only need the check). */
export function checkImageRef(ref: string): string {
  parseImageRef(ref);
  return ref;
}

/** `YYYY-MM-DD` in UTC, the date tag given to every built image. */
export function dateTag(date: Date = new Date()): string {
  return date.toISOString().slice(0, 10);
}

/**
 * The tags a build gets: `<repository>:<version>` and `<repository>:<YYYY-MM-DD>`, never `latest`.
 * The version must itself be a valid tag (e.g. `0.1.0`).
 */
export function buildTags(repository: string, version: string, date: Date = new Date()): string[] {
  const tags = [`${repository}:${version}`, `${repository}:${dateTag(date)}`];
  for (const t of tags) parseImageRef(t);
  return [...new Set(tags)];
}
