import nodeModule from 'node:module';

/**
 * Imported first by every entry point: on Node 22.1 and later, V8 keeps the compiled code of every module
 * it loads in a cache on disk (in the system's temporary folder), so the next start skips most of the
 * compiling. Node 20 has no such cache, and this does nothing there.
 */
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
