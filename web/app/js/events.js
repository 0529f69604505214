// A tiny publish/subscribe hub: views subscribe to the topics they draw.

/** Topic → listeners; `emit` calls each with the payload. */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(payload: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * Subscribes; returns the function that unsubscribes.
   * @param {string} topic
   * @param {(payload: any) => void} fn
   * @returns {() => void}
   */
  on(topic, fn) {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * Calls every listener of `topic`; one failing listener does not stop
   * the others (a broken view must not break the socket).
   * @param {string} topic
   * @param {any} [payload]
   */
  emit(topic, payload) {
    for (const fn of [...(this.listeners.get(topic) ?? [])]) {
      try {
        fn(payload);
      } catch (e) {
        console.error(`listener of ${topic} failed`, e);
      }
    }
  }
}
