/** A batch's checkpoint settings from `submit`'s options: the warning before its timeout, and its requeues. */
import type { BatchSettings } from '../model/types.js';
import type { OptionsOf } from './command-table.js';
import { DEFAULT_WARN_SIGNAL } from '../parse/signal.js';

type CheckpointSettings = Pick<BatchSettings, 'signalBeforeMs' | 'warnSignal' | 'maxRequeues'>;

export function checkpointSettings(options: OptionsOf<'submit'>): CheckpointSettings {
  const settings: CheckpointSettings = { maxRequeues: options.maxRequeues };
  if (options.signalBefore !== undefined) {
    settings.signalBeforeMs = options.signalBefore;
    settings.warnSignal = options.warnSignal ?? DEFAULT_WARN_SIGNAL;
  }
  return settings;
}
