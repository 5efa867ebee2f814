import { fork } from 'node:child_process';

/**
 * Starts a bench process (a site or the upstream) and waits for its `ready` message. The process answers
 * `ask(type)` over IPC, so load generation and serving never share an event loop.
 */
export async function startProcess(script, args = [], { execArgv = [], onExit } = {}) {
  const child = fork(new URL(script, import.meta.url), args, {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let nextId = 0;
  let exited = false;
  child.on('message', (message) => {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    waiting.resolve(message.value);
  });
  child.on('exit', (code, signal) => {
    exited = true;
    for (const waiting of pending.values()) waiting.reject(new Error(`${script} exited (${code ?? signal})`));
    pending.clear();
    onExit?.(code, signal);
  });

  const ask = (type, value) => {
    if (exited) return Promise.reject(new Error(`${script} has exited`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ id, type, value });
    });
  };
  const stop = () =>
    new Promise((resolve) => {
      if (exited) {
        resolve();
        return;
      }
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });

  const ready = await ask('ready');
  return { ...ready, ask, stop, pid: child.pid };
}

/** The child side: answers the parent's questions with `handlers[type](value)`. */
export function answerParent(handlers) {
  process.on('message', async (message) => {
    const handler = handlers[message.type];
    const value = handler ? await handler(message.value) : undefined;
    process.send?.({ id: message.id, value });
  });
  const close = async () => {
    await handlers.close?.();
    process.exit(0);
  };
  process.on('SIGTERM', close);
  // A parent that died must not leave servers behind.
  process.on('disconnect', close);
}
