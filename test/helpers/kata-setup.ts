/**
 * The Kata tier's containerd (vitest project `kata`): the same set-up as the integration
 * tier's, for kata alone. scripts/test.sh runs this project where the Kata kit or a Kata
 * shim is present; there, a failing Kata test fails the run.
 */
import type { TestProject } from 'vitest/node';
import { startTestContainerd } from './global-setup.js';

export default function setup(project: TestProject) {
  return startTestContainerd(project, ['kata']);
}
