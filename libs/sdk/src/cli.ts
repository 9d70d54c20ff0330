#!/usr/bin/env node
import { runCli, type CliProcess } from './cli/program';

// The package carries no Node typings (it also runs in browsers); the CLI runs only in Node.
const nodeProcess = (globalThis as unknown as { process: CliProcess & { argv: string[]; exitCode?: number } }).process;

void runCli(nodeProcess.argv.slice(2), nodeProcess).then((code) => {
  nodeProcess.exitCode = code;
});
