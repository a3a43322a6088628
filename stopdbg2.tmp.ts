import 'reflect-metadata';
import { buildApp } from './src/app';
import { loadConfig } from './src/config';
import { createLogger } from './src/observability/logger';
(async () => {
  const config = loadConfig();
  const app = buildApp(config, { logger: createLogger({ level: 'silent' }) });
  const started = app.start();
  await started;
  const go = () => {
    const t = Date.now();
    const iv = setInterval(() => console.error('still stopping', Date.now() - t, process.getActiveResourcesInfo().join(',')), 1000);
    started.catch(() => undefined).then(() => app.stop()).then(() => { clearInterval(iv); console.error('stopped after', Date.now() - t); });
  };
  if (process.env.VIA_SIGNAL) { process.on('SIGTERM', go); setTimeout(() => process.kill(process.pid, 'SIGTERM'), 100); } else setTimeout(go, 100);
})();
