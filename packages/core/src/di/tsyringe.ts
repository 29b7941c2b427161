// tsyringe reads decorator metadata through `Reflect.getMetadata` and refuses to load without the
// polyfill, so the polyfill comes first here and every core module takes tsyringe from this file:
// any core module then loads on its own (a test fixture, a deep import), not only through the index.
import 'reflect-metadata';

export { container, inject, injectable, Lifecycle, type DependencyContainer } from 'tsyringe';
