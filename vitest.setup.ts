// Tests import modules directly, not the entry point that loads the polyfill tsyringe needs.
import 'reflect-metadata';
