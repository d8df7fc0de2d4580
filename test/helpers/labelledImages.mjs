// Labelled synthetic images for the child processes of the tests (trainChild.mjs, distributedChild.mjs):
// class c has its own colour and stripes, plus per-image noise from a seeded generator (deterministic).

/** A linear congruential generator of floats in [0, 1). */
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** `classes` x `perClass` items { image: { pixels, width, height, channels: 3 }, label: 'class-c' }. */
export function images(classes, perClass, size, seed) {
  const rand = generator(seed);
  const items = [];
  for (let c = 0; c < classes; c++) {
    for (let n = 0; n < perClass; n++) {
      const pixels = new Uint8Array(size * size * 3);
      for (let i = 0; i < pixels.length; i++) {
        const stripe = (Math.floor(i / 3 / (c % 2 ? size : 1)) % (3 + c)) < 2 ? 50 : -50;
        pixels[i] = Math.max(0, Math.min(255, ((c * 67 + (i % 3) * 91) % 256) + stripe + (rand() - 0.5) * 100));
      }
      items.push({ image: { pixels, width: size, height: size, channels: 3 }, label: `class-${c}` });
    }
  }
  return items;
}
