import { defineConfig } from 'vite';

export default defineConfig({
  // Relative asset URLs: the built page works from any folder of any static server.
  base: './',
  // The worker imports backends dynamically (setupBackend), which needs ES-module worker chunks.
  worker: { format: 'es' },
  // The dev server would otherwise discover these only when the worker first imports them, then reload the
  // page in the middle of the first run.
  optimizeDeps: {
    include: [
      '@peft/backends > @tensorflow/tfjs-backend-cpu',
      '@peft/backends > @tensorflow/tfjs-backend-wasm',
      '@peft/backends > @tensorflow/tfjs-backend-webgpu',
      '@peft/models > @huggingface/tokenizers',
      '@tensorflow/tfjs-core/dist/register_all_gradients.js',
    ],
  },
  build: {
    target: 'es2022',
    // TensorFlow.js and its backends make one large worker chunk; that is expected here.
    chunkSizeWarningLimit: 4096,
  },
});
