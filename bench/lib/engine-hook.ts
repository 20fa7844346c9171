/**
 * `node --import engine-hook.js …`: runs the gateway from dist/ with the undici forwarder for
 * plain HTTP, without touching dist/app.js — for measuring the engine before it is wired in
 * (the benchmark uses the `upstream.engine` key instead once the schema has one).
 */
import { register } from 'node:module';

register(new URL('./engine-loader.js', import.meta.url));
