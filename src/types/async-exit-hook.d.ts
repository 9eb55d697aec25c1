declare module 'async-exit-hook' {
  type Hook = (done: () => void) => void;
  function exitHook(hook: Hook): void;
  export default exitHook;
}
