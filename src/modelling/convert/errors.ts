import { VisorError } from '../../common/errors.js';

/** A TensorFlow.js model could not be read or converted; the message names the layer, weight or file. */
export class ConvertError extends VisorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONVERT_FAILED', message, options);
  }
}
