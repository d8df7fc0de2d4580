// Errors from native workers and other async steps carry a stack that ends in Node internals. Like
// sharp, we capture `new Error()` when the user calls us and graft its stack onto the rejection, so the
// stack points at the user's code.

export function rethrowWithCallerStack(error: unknown, caller: Error): never {
  if (error instanceof Error) {
    const callerFrames = (caller.stack ?? '').split('\n').slice(1).join('\n');
    if (callerFrames && !error.stack?.includes(callerFrames)) {
      error.stack = `${error.name}: ${error.message}\n${callerFrames}`;
    }
    throw error;
  }
  throw new Error(String(error));
}
