/** The slice of node:fs the SDK uses; declared here so the package needs no Node typings. */
export interface NodeFs {
  openAsBlob?: (path: string, options?: { type?: string }) => Promise<Blob>;
  promises: {
    readFile(path: string): Promise<Uint8Array>;
    writeFile(path: string, data: Uint8Array): Promise<void>;
    stat(path: string): Promise<{ isFile(): boolean }>;
  };
}

/** Loads node:fs only when a path is given, so the SDK also loads in browsers and bundlers leave it out. */
export async function loadFs(): Promise<NodeFs> {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof proc?.getBuiltinModule === 'function') return proc.getBuiltinModule('node:fs') as NodeFs;
  const specifier = 'node:fs';
  return (await import(/* webpackIgnore: true */ specifier)) as NodeFs;
}
