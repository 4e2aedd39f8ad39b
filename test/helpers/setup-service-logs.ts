// Setup file of the integration and kata projects (vitest.config.ts).
import { printServiceLogsOnFailure } from './service-logs.js';

printServiceLogsOnFailure();
